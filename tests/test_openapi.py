"""The OpenAPI file is the contract: it must be valid and describe exactly what the server does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from support import FULL_APPLICANT

SPEC_FILE = Path(__file__).resolve().parent.parent / "server" / "openapi.yaml"
SPEC = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
APPLICANT = {"duration": 24, "amount": 4000, "age": 35}
TABLE = {"columns": ["id", "duration", "amount", "age"], "rows": [["a", 24, 4000, 35]]}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def app(model_dir, tmp_path_factory):
    from server import create_app
    from server.config import Settings

    db = tmp_path_factory.mktemp("openapi-db") / "db.sqlite3"
    return create_app(
        Settings(model_dir=model_dir, train_if_missing=False, database_url=f"sqlite:///{db}")
    )


def test_the_file_is_valid_openapi_3_1():
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_served_document_is_the_file(live_server):
    assert live_server.get("/openapi.json").json() == SPEC


def flask_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods - IGNORED_METHODS}
    return routes


def spec_routes() -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in SPEC["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_route_is_documented_and_every_documented_route_exists(app):
    assert flask_routes(app) == spec_routes()


def operation(method: str, url_path: str) -> tuple[str, dict]:
    for template, item in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, url_path) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {url_path} is not in the OpenAPI file")


def resolve(node: dict) -> dict:
    while "$ref" in node:
        target = SPEC
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def check_reply(method: str, url_path: str, reply: requests.Response) -> None:
    template, op = operation(method, url_path)
    responses = op["responses"]
    status = str(reply.status_code)
    assert status in responses, f"{method} {template} answered {status}, not documented"
    content = resolve(responses[status]).get("content", {})
    mimetype = reply.headers["Content-Type"].split(";")[0]
    assert mimetype in content, f"{method} {template} {status}: {mimetype} not documented"
    if mimetype.endswith("json"):
        schema = {**content[mimetype]["schema"], "components": SPEC["components"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(reply.json()), key=str)
        assert not errors, f"{method} {template} {status}: {errors[0].message}"


CASES = [
    ("GET", "/health", {}, 200),
    ("GET", "/openapi.json", {}, 200),
    ("GET", "/metrics", {}, 200),
    ("GET", "/v1/models", {}, 200),
    ("GET", "/v1/models/forest", {}, 200),
    ("GET", "/v1/models/nope", {}, 404),
    ("GET", "/addin/", {}, 200),
    ("GET", "/addin/manifest.xml", {}, 200),
    ("GET", "/addin/no-such-file.js", {}, 404),
    ("GET", "/v1/models/logistic_full", {}, 200),
    ("GET", "/v1/models/logistic_full/schema", {}, 200),
    ("GET", "/v1/models/nope/schema", {}, 404),
    ("POST", "/v1/predict", {"json": {"model": "logistic_full", **FULL_APPLICANT}}, 200),
    (
        "POST",
        "/v1/predict",
        {"json": {"model": "forest_full", **FULL_APPLICANT, "purpose": "yacht"}},
        400,
    ),
    ("GET", "/v1/predict", {"params": {"model": "logistic_full", **FULL_APPLICANT}}, 200),
    (
        "GET",
        "/v1/predict",
        {"params": {"model": "forest_full", "format": "text", **FULL_APPLICANT}},
        200,
    ),
    ("GET", "/v1/predict", {"params": APPLICANT}, 200),
    ("GET", "/v1/predict", {"params": {**APPLICANT, "format": "text"}}, 200),
    ("GET", "/v1/predict", {"params": {**APPLICANT, "age": 7}}, 400),
    ("GET", "/v1/predict", {"params": {**APPLICANT, "model": "nope"}}, 404),
    ("POST", "/v1/predict", {"json": {"model": "forest", **APPLICANT}}, 200),
    ("POST", "/v1/predict", {"json": {**APPLICANT, "amount": "x"}}, 400),
    ("POST", "/v1/predict", {"json": {**APPLICANT, "model": "nope"}}, 404),
    ("POST", "/v1/predict", {"data": b"x", "headers": {"Content-Type": "text/plain"}}, 415),
    ("POST", "/v1/predict/batch", {"json": TABLE}, 200),
    ("POST", "/v1/predict/batch", {"json": {**TABLE, "model": "nope"}}, 404),
    ("POST", "/v1/predict/batch", {"json": {**TABLE, "rows": []}}, 400),
    (
        "POST",
        "/v1/predict/batch",
        {
            "data": b"duration,amount,age\n1,2,3\n",
            "headers": {"Content-Type": "text/csv", "Accept": "text/csv"},
        },
        200,
    ),
    (
        "POST",
        "/v1/predict/batch",
        {"files": {"file": ("t.csv", b"duration,amount,age\n1,2,3\n")}},
        200,
    ),
    ("POST", "/v1/predict/batch", {"data": b"<x/>", "headers": {"Content-Type": "text/xml"}}, 415),
    ("POST", "/v1/predict/batch", {"data": b"duration,amount,age\n1,2,3\n"}, 415),
    (
        "POST",
        "/v1/predict/batch",
        {"data": b"duration,amount,age\n1,2,3\n", "headers": {"Content-Type": "text/csv"}},
        200,
    ),
    ("POST", "/v1/predict/batch", "arrow", 200),
    ("POST", "/v1/predict/batch", "parquet", 200),
    (
        "POST",
        "/v1/predict/batch",
        {"data": b"no", "headers": {"Content-Type": "application/vnd.apache.parquet"}},
        400,
    ),
]


def _columnar(kind: str) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": ["a"], "duration": [24], "amount": [4000], "age": [35]})
    sink = pa.BufferOutputStream()
    if kind == "arrow":
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        media_type = "application/vnd.apache.arrow.stream"
    else:
        pq.write_table(table, sink)
        media_type = "application/vnd.apache.parquet"
    return {"data": sink.getvalue().to_pybytes(), "headers": {"Content-Type": media_type}}


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), CASES)
def test_reply_matches_the_documented_status_and_schema(live_server, method, path, kwargs, status):
    if isinstance(kwargs, str):
        kwargs = _columnar(kwargs)
    reply = requests.request(method, live_server.url + path, timeout=30, **kwargs)
    assert reply.status_code == status, reply.text
    check_reply(method, path, reply)


def test_413_is_documented_where_it_happens(server_factory):
    server = server_factory({"CREDITSCORER_MAX_BATCH_ROWS": "1"})
    reply = server.post("/v1/predict/batch", json={**TABLE, "rows": TABLE["rows"] * 2})
    assert reply.status_code == 413
    check_reply("POST", "/v1/predict/batch", reply)
