"""The contract fuzzed: schemathesis runs every check and phase against a real server.

Open mode, and keyed mode with a client key and with an admin key, each against its own
server on 127.0.0.1 (a copy of the model store, since retrain and rollback change it);
and the single-score routes once more on the file narrowed to one model's request schema.
Zero failures is the bar. The same harness, pointed at a server with one deliberately
broken route, must fail: a fuzzer that cannot fail proves nothing.

The example count per operation is bounded (CREDITSCORER_FUZZ_EXAMPLES, default 15) and
the seed fixed (CREDITSCORER_FUZZ_SEED), so that a run is reproducible and the whole
module stays near two minutes on a busy 2-core machine. The rules of which statuses a
schema-valid request may get, and why, are in tests/schemathesis.toml.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
import yaml
from werkzeug.serving import make_server

from server import db, keys

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")
MODEL_CONFIG = Path(__file__).with_name("schemathesis-model.toml")
SPEC_FILE = Path(__file__).resolve().parent.parent / "server" / "openapi.yaml"
FUZZED_MODEL = "logistic"
EXAMPLES = int(os.environ.get("CREDITSCORER_FUZZ_EXAMPLES", "15"))
SEED = os.environ.get("CREDITSCORER_FUZZ_SEED", "20261201")
# Retrain requests must not wait for a training run: the fuzzing servers cap ?wait= at 1 s.
SERVER_ENV = {"CREDITSCORER_RETRAIN_QUICK": "1", "CREDITSCORER_RETRAIN_WAIT_SECONDS": "1"}


def schemathesis_command() -> str:
    beside = Path(sys.executable).with_name("schemathesis")
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    assert found, "schemathesis is not installed (pip install -e '.[dev]')"
    return found


def fuzz(
    url: str,
    workdir: Path,
    headers: Iterable[str] = (),
    exclude_checks: Iterable[str] = (),
    operations: Iterable[str] = (),
    examples: int = EXAMPLES,
    spec: Path | None = None,
    config: Path = CONFIG,
) -> subprocess.CompletedProcess[str]:
    """Run schemathesis (all checks, all phases) against ``url``; its output and exit code.

    ``spec``: a local copy of the description instead of the server's ``/openapi.json``.
    """
    location = [str(spec), "--url", url] if spec else [f"{url}/openapi.json"]
    command = [
        schemathesis_command(),
        "--config-file",
        str(config),
        "run",
        *location,
        "--checks",
        "all",
        "--max-examples",
        str(examples),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--no-color",
    ]
    for header in headers:
        command += ["--header", header]
    if exclude := list(exclude_checks):
        command += ["--exclude-checks", ",".join(exclude)]
    for operation_id in operations:
        command += ["--include-operation-id", operation_id]
    return subprocess.run(  # its cache and reports stay in the test's folder
        command, cwd=workdir, capture_output=True, text=True, timeout=900, check=False
    )


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    # Every generated case passed every check (a run that tested nothing would not say so).
    summary = re.search(r"(\d+) generated, (\d+) passed", output)
    assert summary, output[-5_000:]
    assert int(summary[1]) > 0, output[-5_000:]
    assert summary[1] == summary[2], output[-5_000:]


@pytest.fixture
def fuzz_store(model_dir: Path, tmp_path: Path) -> Path:
    """A copy of the trained models: the fuzzer's retrains and rollbacks change its store."""
    return Path(shutil.copytree(model_dir, tmp_path / "models"))


@pytest.fixture
def fuzz_env(fuzz_store: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **SERVER_ENV,
        "CREDITSCORER_MODEL_DIR": str(fuzz_store),
        "CREDITSCORER_DATABASE_URL": f"sqlite:///{tmp_path / 'fuzz.sqlite3'}",
    }


def test_open_mode_has_no_contract_failures(server_factory, fuzz_env, tmp_path):
    server = server_factory(fuzz_env)
    # Open mode answers without a key by design (the local default), so the one check
    # that demands a 401 for a key-less request cannot apply; keyed mode runs it.
    assert_clean(fuzz(server.url, tmp_path, exclude_checks=["ignored_auth"]))


@pytest.mark.parametrize("role", ["client", "admin"])
def test_keyed_mode_has_no_contract_failures(server_factory, fuzz_env, tmp_path, role):
    engine = db.make_engine(fuzz_env["CREDITSCORER_DATABASE_URL"])
    keys.create_tables(engine)
    _, key = keys.create_key(engine, f"fuzzing {role}", role)
    engine.dispose()
    server = server_factory(fuzz_env)
    assert_clean(fuzz(server.url, tmp_path, headers=[f"X-API-Key: {key}"]))


def spec_for_one_model(url: str, model: str, target: Path) -> Path:
    """The file with the single-score shapes narrowed to one model's request schema.

    The file's applicant is generic (any model's features); joined with what
    ``GET /v1/models/{name}/schema`` says of one model, every request the fuzzer calls
    valid must be scored, and a wrong ``model`` or ``reasons`` beside valid features must
    be refused: the contract of the file and the schema route together.
    """
    spec = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    row = requests.get(f"{url}/v1/models/{model}/schema", timeout=30).json()
    row = {k: v for k, v in row.items() if not k.startswith(("$", "x-")) and k != "title"}
    # The query string carries text: a number's rule holds for the number the text reads as.
    spec["components"]["schemas"]["Applicant"] = {
        "allOf": [
            spec["components"]["schemas"]["Applicant"],
            row,
            {"properties": {"model": {"const": model}}},
        ]
    }
    for parameter in spec["paths"]["/v1/predict"]["get"]["parameters"]:
        if parameter.get("name") == "features":
            parameter["schema"], parameter["required"] = row, True
        if parameter.get("name") == "model":
            parameter["schema"] = {"const": model}
    target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return target


def test_single_scores_for_one_model_have_no_contract_failures(server_factory, fuzz_env, tmp_path):
    server = server_factory(fuzz_env)
    spec = spec_for_one_model(server.url, FUZZED_MODEL, tmp_path / "openapi-one-model.yaml")
    result = fuzz(
        server.url,
        tmp_path,
        exclude_checks=["ignored_auth"],
        operations=["predictJson", "predictQuery"],
        spec=spec,
        config=MODEL_CONFIG,
    )
    assert_clean(result)


# Deliberately broken servers: the app wrapped in a WSGI layer that breaks one thing.


def reply_outside_its_schema(app: Callable) -> Callable:
    """/health answers 200 with a body its schema forbids (no models, unknown status)."""

    def wrapper(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/health":
            return app(environ, start_response)
        body = b'{"status": "fine"}'
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return wrapper


def undocumented_status(app: Callable) -> Callable:
    """GET /v1/models answers with a status its operation does not document."""

    def wrapper(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/v1/models":
            return app(environ, start_response)
        body = b'{"type": "about:blank", "title": "Teapot", "status": 418, "detail": "no"}'
        headers = [("Content-Type", "application/problem+json")]
        start_response("418 I'm a teapot", [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return wrapper


def lenient_reasons(app: Callable) -> Callable:
    """POST /v1/predict drops a ``reasons`` that is not a boolean instead of refusing it,
    as the server once did: a schema-violating request then gets a score."""

    def wrapper(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/v1/predict" and environ["REQUEST_METHOD"] == "POST":
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = None
            if isinstance(body, dict) and not isinstance(body.get("reasons", True), bool):
                del body["reasons"]
                raw = orjson.dumps(body)
            environ["wsgi.input"] = io.BytesIO(raw)
            environ["CONTENT_LENGTH"] = str(len(raw))
        return app(environ, start_response)

    return wrapper


@pytest.fixture
def serve_wrapped(fuzz_store: Path, tmp_path: Path) -> Iterator[Callable[[Callable], str]]:
    """Serve the real app, wrapped, on 127.0.0.1 and a free port; yield a starter."""
    from server import create_app

    servers = []

    def start(wrap: Callable[[Callable], Callable]) -> str:
        app = create_app(
            model_dir=fuzz_store,
            train_if_missing=False,
            database_url=f"sqlite:///{tmp_path / 'broken.sqlite3'}",
            retrain_wait_seconds=1,
            retrain_quick=True,
        )
        server = make_server("127.0.0.1", 0, wrap(app.wsgi_app), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread, app))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread, app in servers:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["creditscorer.db"].dispose()


@pytest.mark.parametrize(
    ("wrap", "operation", "finding", "one_model"),
    [
        (reply_outside_its_schema, "health", "Response violates schema", False),
        (undocumented_status, "listModels", "Undocumented status code", False),
        (lenient_reasons, "predictJson", "Schema-violating request accepted", True),
    ],
)
def test_the_harness_catches_a_broken_route(
    serve_wrapped, tmp_path, wrap, operation, finding, one_model
):
    url = serve_wrapped(wrap)
    spec = spec_for_one_model(url, FUZZED_MODEL, tmp_path / "one.yaml") if one_model else None
    config = MODEL_CONFIG if one_model else CONFIG
    result = fuzz(
        url,
        tmp_path,
        exclude_checks=["ignored_auth"],
        operations=[operation],
        spec=spec,
        config=config,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-5_000:]
    assert finding in output, output[-5_000:]
