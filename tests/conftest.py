"""Session fixtures: models trained once (quick grids) and a real server process."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import AppClient, ServerProcess, require_part, start_server, strict

PG_URL_ENV = "CREDITSCORER_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store with both models, trained once per session on the shipped data."""
    from training import train_all

    root = tmp_path_factory.mktemp("models")
    train_all(root, quick=True)
    return root


@pytest.fixture(scope="session")
def store(model_dir: Path):
    from creditscorer import ModelStore

    return ModelStore(model_dir)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL server (CREDITSCORER_TEST_DATABASE_URL); a skip without one."""
    url = os.environ.get(PG_URL_ENV, "")
    require_part(bool(url), "postgresql")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes it runs twice: on a new SQLite file and on the test PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_app(model_dir: Path, db_url: str) -> Iterator[Callable[..., object]]:
    """Build apps on ``db_url`` with the session's models; engines are disposed afterwards."""
    from server import create_app

    apps = []

    def make(**overrides):
        settings = {"model_dir": model_dir, "train_if_missing": False, "database_url": db_url}
        app = create_app(**{**settings, **overrides})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["creditscorer.db"].dispose()


@pytest.fixture(scope="session")
def api(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppClient]:
    """The app in this process on Flask's test client (no socket), for the whole session."""
    from server import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.sqlite3'}"
    app = create_app(model_dir=model_dir, train_if_missing=False, database_url=url)
    yield AppClient(app)
    app.extensions["creditscorer.db"].dispose()


def _server_env(model_dir: Path, folder: Path) -> dict[str, str]:
    """A test server's settings: the session's models, and a database of its own in
    ``folder`` (never the project's ``instance/`` database, where a developer's own query
    log and API keys live)."""
    return {
        "CREDITSCORER_MODEL_DIR": str(model_dir),
        "CREDITSCORER_TRAIN_IF_MISSING": "0",
        "CREDITSCORER_DATABASE_URL": f"sqlite:///{folder / 'creditscorer.sqlite3'}",
    }


@pytest.fixture(scope="session")
def live_server(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One real server on 127.0.0.1 (random free port) for the whole session."""
    server = start_server(_server_env(model_dir, tmp_path_factory.mktemp("live")))
    yield server
    server.stop()


@pytest.fixture
def server_factory(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ServerProcess]]:
    """Start extra servers with other settings; each is stopped after the test."""
    started: list[ServerProcess] = []

    def factory(env: dict[str, str] | None = None, args: list[str] | None = None) -> ServerProcess:
        base = _server_env(model_dir, tmp_path_factory.mktemp("server"))
        server = start_server({**base, **(env or {})}, args)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CREDITSCORER_REQUIRE_ALL_PARTS=1) a skipped test is a failed test."""
    outcome = yield
    report = outcome.get_result()
    if strict() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode: {report.longrepr}"
