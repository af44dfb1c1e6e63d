"""API keys: stored hashed, required on every route but /health once one exists, roles,
revocation that takes effect at once, the command line, and CORS for allowed origins."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import PROJECT_ROOT

from server import create_app, db, keys

KEY_PATTERN = re.compile(r"^cs_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'keys.sqlite3'}"


@pytest.fixture
def app(model_dir: Path, database_url: str):
    app = create_app(
        model_dir=model_dir,
        database_url=database_url,
        train_if_missing=False,
        cors_origins="https://sheets.example.org",
    )
    yield app
    app.extensions["creditscorer.db"].dispose()


@pytest.fixture
def engine(app):
    return app.extensions["creditscorer.db"]


@pytest.fixture
def client(app):
    return app.test_client()


def _routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, with sample values for path parameters."""
    found = []
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for argument in rule.arguments:
            sample = "logistic" if argument == "name" else "x"
            path = re.sub(rf"<(?:[^:<>]+:)?{argument}>", sample, path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "keys", "--database-url", database_url, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_new_key_is_stored_only_as_its_hash(engine):
    key_id, key = keys.create_key(engine, "pricing team", "client")
    assert KEY_PATTERN.match(key)
    assert key.split("_")[1] == key_id
    with engine.connect() as conn:
        row = conn.execute(sa.select(keys.api_keys)).one()
    assert row.key_sha256 == keys.key_hash(key)
    assert key not in repr(tuple(row))
    assert key.split("_", 2)[2] not in repr(tuple(row))


def test_keys_are_unique(engine):
    made = {keys.create_key(engine, f"k{i}")[1] for i in range(20)}
    assert len(made) == 20


@pytest.mark.parametrize(
    ("name", "role", "message"),
    [("", "client", "name"), ("x" * 101, "client", "name"), ("ok", "root", "unknown role")],
)
def test_create_key_rejects_bad_names_and_roles(engine, name, role, message):
    with pytest.raises(ValueError, match=message):
        keys.create_key(engine, name, role)


def test_check_key_is_open_until_a_key_exists_and_after_the_last_is_revoked(engine):
    assert keys.check_key(engine, None).open
    key_id, key = keys.create_key(engine, "a")
    assert not keys.check_key(engine, None).open
    assert keys.check_key(engine, key).key.id == key_id
    assert keys.revoke_key(engine, key_id)
    assert not keys.revoke_key(engine, key_id)  # already revoked
    assert keys.check_key(engine, key).open  # no active key left: open again


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # wrong secret, right id
        lambda k: "cs_000000000000_" + k.split("_", 2)[2],  # unknown id
        lambda k: k.replace("cs_", "xx_"),  # wrong prefix
        lambda k: k + "extra",
        lambda k: "",
        lambda k: "cs_",
    ],
)
def test_check_key_rejects_anything_but_the_exact_key(engine, mangle):
    _, key = keys.create_key(engine, "a")
    result = keys.check_key(engine, mangle(key))
    assert not result.open
    assert result.key is None


def test_no_route_but_health_answers_without_a_key_once_keys_exist(app, client, engine):
    keys.create_key(engine, "someone")
    routes = _routes(app)
    assert ("POST", "/v1/models/logistic/retrain") in routes
    assert ("GET", "/v1/predict") in routes
    for method, path in routes:
        reply = client.open(path, method=method)
        if path == "/health" or path.startswith(keys.OPEN_PREFIXES):
            # /health, and the Office add-in's static files (no secrets; Office fetches them
            # before a key can be sent)
            assert reply.status_code in (200, 404), path
            reply.close()
            continue
        assert reply.status_code == 401, (method, path, reply.status_code)
        assert reply.mimetype == "application/problem+json"
        scheme = "Basic" if path in keys.BROWSER_PATHS else "Bearer"
        assert reply.headers["WWW-Authenticate"].startswith(f"{scheme} realm=")
        assert reply.json["request_id"] == reply.headers["X-Request-ID"]
    # Unknown routes and methods are no way around the key either.
    assert client.get("/no/such/route").status_code == 401
    assert client.delete("/v1/models").status_code == 401


def test_without_keys_every_route_is_open(client):
    assert client.get("/v1/models").status_code == 200
    assert client.get("/v1/predict?duration=12&amount=1000&age=30").status_code == 200


def test_a_valid_key_in_either_header_passes_and_a_wrong_one_is_told_apart(client, engine):
    _, key = keys.create_key(engine, "someone")
    assert client.get("/v1/models", headers={"X-API-Key": key}).status_code == 200
    bearer = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/models", headers=bearer).status_code == 200
    wrong = client.get("/v1/models", headers={"X-API-Key": key + "x"})
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    assert "not valid" in wrong.json["detail"]
    missing = client.get("/v1/models")
    assert "X-API-Key" in missing.json["detail"]
    assert key not in wrong.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/models/logistic/retrain"), ("POST", "/v1/models/logistic/rollback")],
)
def test_a_client_key_gets_403_on_admin_routes_and_an_admin_key_passes(
    client, engine, method, path
):
    _, client_key = keys.create_key(engine, "sheet", "client")
    _, admin_key = keys.create_key(engine, "ops", "admin")
    denied = client.open(path, method=method, headers={"X-API-Key": client_key})
    assert denied.status_code == 403
    assert denied.mimetype == "application/problem+json"
    assert "admin role" in denied.json["detail"]
    # The admin key gets past the role check: rollback has nothing to go back to (409),
    # and retrain is refused for its bad option before any training starts (400).
    allowed = client.open(
        path, method=method, headers={"X-API-Key": admin_key}, query_string={"wait": "-1"}
    )
    assert allowed.status_code in (400, 409), allowed.json
    assert allowed.status_code != 403


def test_a_browser_opens_the_dashboard_with_the_key_as_basic_password(client, engine):
    _, key = keys.create_key(engine, "analyst")
    challenged = client.get("/dashboard")
    assert challenged.status_code == 401
    assert challenged.headers["WWW-Authenticate"].startswith("Basic ")
    assert client.get("/dashboard", auth=("anyone", key)).status_code == 200
    assert client.get("/dashboard", auth=("anyone", key[:-1] + "x")).status_code == 401
    api_reply = client.get("/v1/models")
    assert api_reply.headers["WWW-Authenticate"].startswith("Bearer ")


def test_the_request_records_the_key_id_never_the_key(app, engine):
    key_id, key = keys.create_key(engine, "someone")
    seen = {}

    @app.after_request
    def _capture(response):
        from flask import g

        seen["key_id"] = g.get("key_id")
        return response

    app.test_client().get("/v1/models", headers={"X-API-Key": key})
    assert seen["key_id"] == key_id


def test_cors_answers_allowed_origins_only(client, engine):
    _, key = keys.create_key(engine, "browser")
    preflight = client.options(
        "/v1/predict",
        headers={
            "Origin": "https://sheets.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-API-Key, Content-Type",
        },
    )
    assert preflight.status_code == 200  # a preflight carries no key, by design of CORS
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://sheets.example.org"
    assert "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]
    allowed = client.get(
        "/v1/models", headers={"Origin": "https://sheets.example.org", "X-API-Key": key}
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://sheets.example.org"
    assert "Origin" in allowed.headers["Vary"]
    other = client.get("/v1/models", headers={"Origin": "https://evil.example", "X-API-Key": key})
    assert "Access-Control-Allow-Origin" not in other.headers
    other_preflight = client.options(
        "/v1/predict",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert other_preflight.status_code == 401


def test_cli_adds_lists_and_revokes_keys(tmp_path, database_url):
    added = run_cli(database_url, "add", "--name", "risk desk", "--role", "admin")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert KEY_PATTERN.match(key)
    assert "shown only once" in added.stderr
    key_id = key.split("_")[1]
    listed = run_cli(database_url, "list")
    assert key_id in listed.stdout
    assert "admin" in listed.stdout
    assert "risk desk" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout
    database_bytes = (tmp_path / "keys.sqlite3").read_bytes()
    assert key.split("_", 2)[2].encode() not in database_bytes
    assert run_cli(database_url, "revoke", key_id).returncode == 0
    again = run_cli(database_url, "revoke", key_id)
    assert again.returncode == 1
    assert "no active key" in again.stderr


def test_a_revoked_key_stops_working_at_once_in_a_running_server(server_factory, tmp_path):
    """Revoked from another process (the CLI) while the server runs: the next request fails."""
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    engine = db.make_engine(url)
    try:
        keys.create_tables(engine)
        _, key = keys.create_key(engine, "live")
        _, other = keys.create_key(engine, "other")
    finally:
        engine.dispose()
    server = server_factory(env={"CREDITSCORER_DATABASE_URL": url})
    assert server.get("/v1/models", headers={"X-API-Key": key}).status_code == 200
    assert server.get("/v1/models").status_code == 401
    assert server.get("/health").status_code == 200
    assert run_cli(url, "revoke", key.split("_")[1]).returncode == 0
    reply = server.get("/v1/models", headers={"X-API-Key": key})
    assert reply.status_code == 401
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert server.get("/v1/models", headers={"X-API-Key": other}).status_code == 200


@pytest.mark.postgres
def test_keys_work_the_same_on_postgresql(postgres_url):
    url = postgres_url
    engine = db.make_engine(url)
    made: list[str] = []
    try:
        keys.create_tables(engine)
        key_id, key = keys.create_key(engine, "postgres test", "admin")
        made.append(key_id)
        found = keys.check_key(engine, key)
        assert found.key is not None
        assert (found.key.id, found.key.role) == (key_id, "admin")
        assert keys.check_key(engine, key + "x").key is None
        assert key_id in [k.id for k in keys.list_keys(engine)]
        assert keys.revoke_key(engine, key_id)
        assert keys.check_key(engine, key).key is None
    finally:
        with engine.begin() as conn:
            conn.execute(keys.api_keys.delete().where(keys.api_keys.c.id.in_(made)))
        engine.dispose()
