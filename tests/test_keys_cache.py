"""The open-mode answer ("no key exists") is remembered per worker for a documented
interval; a key made elsewhere ends open mode within it, and revocation is never cached."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from server import create_app, db, keys

RECHECK_SECONDS = 0.3
PREDICT = "/v1/predict?duration=12&amount=1000&age=30"


@pytest.fixture
def workers(model_dir: Path, tmp_path: Path):
    """Two apps on one database: two worker processes of one deployment, as far as keys go."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    apps = [
        create_app(
            model_dir=model_dir,
            database_url=url,
            train_if_missing=False,
            key_open_recheck_seconds=RECHECK_SECONDS,
        )
        for _ in range(2)
    ]
    yield apps, url
    for app in apps:
        app.extensions["creditscorer.db"].dispose()


def _other_process_engine(url: str):
    """An engine of its own, like the command line's: it shares nothing with the apps."""
    return db.make_engine(url)


def _until_status(client, status: int, headers=None, limit_s: float = 10.0) -> int:
    """Poll until ``status`` (bounded); return the number of requests it took."""
    deadline = time.monotonic() + limit_s
    tries = 0
    while time.monotonic() < deadline:
        tries += 1
        if client.get(PREDICT, headers=headers or {}).status_code == status:
            return tries
        time.sleep(0.02)
    raise AssertionError(f"no {status} within {limit_s} s")


def test_a_key_made_in_another_process_ends_open_mode_in_every_worker(workers):
    apps, url = workers
    clients = [app.test_client() for app in apps]
    for client in clients:
        assert client.get(PREDICT).status_code == 200  # open: no key yet, answer remembered
    engine = _other_process_engine(url)
    try:
        _, key = keys.create_key(engine, "made elsewhere")
    finally:
        engine.dispose()
    for client in clients:
        _until_status(client, 401)
    for client in clients:
        assert client.get(PREDICT, headers={"X-API-Key": key}).status_code == 200
        assert client.get(PREDICT).status_code == 401


def test_a_key_made_in_the_same_process_ends_open_mode_at_once(model_dir, tmp_path):
    app = create_app(
        model_dir=model_dir,
        database_url=f"sqlite:///{tmp_path / 'one.sqlite3'}",
        train_if_missing=False,
        key_open_recheck_seconds=3600.0,  # so that only the local change can end it
    )
    try:
        client = app.test_client()
        assert client.get(PREDICT).status_code == 200
        keys.create_key(app.extensions["creditscorer.db"], "same process")
        assert client.get(PREDICT).status_code == 401
    finally:
        app.extensions["creditscorer.db"].dispose()


def test_revocation_in_another_process_is_effective_at_once_in_every_worker(workers):
    apps, url = workers
    engine = _other_process_engine(url)
    try:
        key_id, key = keys.create_key(engine, "to revoke")
        _, other = keys.create_key(engine, "stays")
        clients = [app.test_client() for app in apps]
        for client in clients:
            assert client.get(PREDICT, headers={"X-API-Key": key}).status_code == 200
        assert keys.revoke_key(engine, key_id)
        for client in clients:  # the very next request, no waiting
            assert client.get(PREDICT, headers={"X-API-Key": key}).status_code == 401
            assert client.get(PREDICT, headers={"X-API-Key": other}).status_code == 200
    finally:
        engine.dispose()


def test_open_mode_with_a_cache_still_records_a_presented_key_id(workers):
    """A client that sends a key to an open server: its id still reaches the log."""
    apps, url = workers
    client = apps[0].test_client()
    assert client.get(PREDICT).status_code == 200
    checker = apps[0].extensions["creditscorer.keys"]
    engine = _other_process_engine(url)
    try:
        key_id, key = keys.create_key(engine, "early client")
    finally:
        engine.dispose()
    result = checker.check(key)
    assert result.key is not None
    assert result.key.id == key_id
