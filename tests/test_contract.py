"""The file and the server agree: what openapi.yaml forbids the server refuses (400 naming
the field), and what the server refuses openapi.yaml forbids (or points to the per-model
schema for). Each case is one place where they once disagreed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from server import create_app, keys

SPEC = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "server" / "openapi.yaml").read_text("utf-8")
)
APPLICANT = {"duration": 24, "amount": 4000, "age": 35}
TABLE = {"columns": ["duration", "amount", "age"], "rows": [[24, 4000, 35]]}
WINDOW_ROUTES = ["/v1/stats", "/v1/models/logistic/stats", "/dashboard"]


def spec_allows(schema: dict, value) -> bool:
    """Whether ``value`` is valid under ``schema`` (a part of the OpenAPI file)."""
    return Draft202012Validator({**schema, "components": SPEC["components"]}).is_valid(value)


def component(name: str) -> dict:
    return SPEC["components"]["schemas"][name]


def window_schema() -> dict:
    return SPEC["components"]["parameters"]["Window"]["schema"]


def request_body(path: str, method: str, media_type: str) -> dict:
    return SPEC["paths"][path][method]["requestBody"]["content"][media_type]


@pytest.fixture(scope="module")
def app(model_dir, tmp_path_factory):
    app = create_app(
        model_dir=model_dir,
        train_if_missing=False,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('contract') / 'db.sqlite3'}",
    )
    yield app
    app.extensions["creditscorer.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def assert_field_error(reply, field: str) -> None:
    assert reply.status_code == 400, reply.get_data(as_text=True)
    assert reply.mimetype == "application/problem+json"
    assert field in [e["field"] for e in reply.json["errors"]], reply.json


# The server accepted values the file forbids.


@pytest.mark.parametrize("model", [{}, None, 3, ["forest"], True])
def test_a_batch_model_that_is_not_text_is_refused_not_replaced_by_the_default(client, model):
    assert not spec_allows(component("BatchRequest"), {**TABLE, "model": model})
    assert_field_error(client.post("/v1/predict/batch", json={**TABLE, "model": model}), "model")


@pytest.mark.parametrize("model", [None, 3, {}, False])
def test_a_single_score_model_that_is_not_text_is_refused(client, model):
    assert not spec_allows(component("Applicant"), {**APPLICANT, "model": model})
    assert_field_error(client.post("/v1/predict", json={**APPLICANT, "model": model}), "model")


@pytest.mark.parametrize("reasons", [None, "yes", "true", 1, 0, "1", []])
def test_a_json_reasons_that_is_not_a_boolean_is_refused(client, reasons):
    assert not spec_allows(component("Applicant"), {**APPLICANT, "reasons": reasons})
    assert_field_error(
        client.post("/v1/predict", json={**APPLICANT, "reasons": reasons}), "reasons"
    )
    assert not spec_allows(component("BatchRequest"), {**TABLE, "reasons": reasons})
    assert_field_error(
        client.post("/v1/predict/batch", json={**TABLE, "reasons": reasons}), "reasons"
    )


@pytest.mark.parametrize(
    ("text", "with_reasons"), [("true", True), ("TRUE", True), ("1", True), ("False", False)]
)
def test_query_string_booleans_are_true_false_1_or_0_in_any_case(client, text, with_reasons):
    assert spec_allows(component("QueryFlag"), text)
    reply = client.get("/v1/predict", query_string={**APPLICANT, "reasons": text})
    assert reply.status_code == 200, reply.json
    assert bool(reply.json["reasons"]) is with_reasons


@pytest.mark.parametrize("text", ["yes", "on", "", " true", "2"])
def test_other_query_string_booleans_are_refused(client, text):
    assert not spec_allows(component("QueryFlag"), text)
    reply = client.get("/v1/predict", query_string={**APPLICANT, "reasons": text})
    assert_field_error(reply, "reasons")
    batch = client.post("/v1/predict/batch", query_string={"reasons": text}, json=TABLE)
    assert_field_error(batch, "reasons")


@pytest.mark.parametrize("options", [{"quick": "true"}, {"force": 1}, {"wait": "1"}])
def test_retrain_json_options_have_json_types(client, options):
    schema = request_body("/v1/models/{name}/retrain", "post", "application/json")["schema"]
    assert not spec_allows(schema, options)
    reply = client.post("/v1/models/logistic/retrain", json=options)
    assert_field_error(reply, next(iter(options)))


def test_a_table_with_both_columns_and_records_is_refused(client):
    body = {**TABLE, "records": [APPLICANT]}
    assert not spec_allows(component("BatchRequest"), body)
    assert_field_error(client.post("/v1/predict/batch", json=body), "body")


# The file allowed what the server refuses.


@pytest.mark.parametrize(
    "window",
    [
        {"hours": "2", "since": "2026-11-30T00:00:00Z"},
        {"hours": "2", "until": "2026-11-30T00:00:00Z"},
        {"until": "2026-11-30T00:00:00Z"},
        {"huors": "2"},
    ],
)
@pytest.mark.parametrize("route", WINDOW_ROUTES)
def test_the_window_forms_exclude_each_other_in_the_file_and_the_server(client, route, window):
    assert not spec_allows(window_schema(), window)
    reply = client.get(route, query_string=window)
    assert reply.status_code == 400, reply.get_data(as_text=True)
    assert reply.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "window",
    [
        {},
        {"hours": 2},
        {"since": "2026-11-30T00:00:00Z"},
        {"since": "2026-11-30T00:00:00Z", "until": "2026-12-01T00:00:00Z"},
    ],
)
def test_each_window_form_alone_is_valid_in_the_file(client, window):
    assert spec_allows(window_schema(), window)
    assert client.get("/v1/stats", query_string=window).status_code == 200


def test_an_empty_applicant_is_invalid_in_the_file_and_refused(client):
    assert not spec_allows(component("Applicant"), {})
    assert not spec_allows(component("Applicant"), {"model": "forest", "reasons": False})
    assert spec_allows(component("Applicant"), APPLICANT)
    reply = client.post("/v1/predict", json={})
    assert reply.status_code == 400


@pytest.mark.parametrize("body", [[], {"records": []}, {**TABLE, "rows": []}])
def test_an_empty_table_is_invalid_in_the_file_and_refused(client, body):
    assert not spec_allows(component("BatchRequest"), body)
    assert_field_error(client.post("/v1/predict/batch", json=body), "rows")


def test_a_retrain_upload_must_be_utf8_in_the_file_and_the_server(client):
    form = request_body("/v1/models/{name}/retrain", "post", "multipart/form-data")
    assert "charset=utf-8" in form["encoding"]["file"]["contentType"]
    assert "UTF-8" in form["schema"]["properties"]["file"]["description"]
    latin1 = "duration,amount,age,default\n12,1000,30,0\n# Müller\n".encode("latin-1")
    reply = client.post(
        "/v1/models/logistic/retrain", data={"file": (io.BytesIO(latin1), "latin1.csv")}
    )
    assert_field_error(reply, "file")
    assert "UTF-8" in reply.json["detail"]


def test_per_model_ranges_are_stated_by_the_schema_route_the_file_points_to(client):
    described = SPEC["paths"]["/v1/predict"]["get"]["parameters"]
    assert any("/v1/models/{name}/schema" in p.get("description", "") for p in described)
    row_schema = client.get("/v1/models/logistic/schema").json
    for bad in ({**APPLICANT, "age": 7}, {**APPLICANT, "duration": ""}):
        assert not Draft202012Validator(row_schema).is_valid(bad)
        assert client.get("/v1/predict", query_string=bad).status_code == 400
    assert Draft202012Validator(row_schema).is_valid(APPLICANT)


# Key precedence: either header wrong is a 401, whichever it is.


@pytest.fixture
def keyed(model_dir, tmp_path):
    app = create_app(
        model_dir=model_dir,
        train_if_missing=False,
        database_url=f"sqlite:///{tmp_path / 'keys.sqlite3'}",
    )
    engine = app.extensions["creditscorer.db"]
    _, key = keys.create_key(engine, "sheet")
    _, other = keys.create_key(engine, "another sheet")
    yield app.test_client(), key, other
    engine.dispose()


def test_either_key_header_wrong_is_a_401(keyed):
    client, key, _ = keyed
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    cases = [
        {"X-API-Key": key, "Authorization": f"Bearer {wrong}"},
        {"X-API-Key": wrong, "Authorization": f"Bearer {key}"},
        {"X-API-Key": key, "Authorization": "Token something"},
        {"X-API-Key": key, "Authorization": "Bearer"},
    ]
    for headers in cases:
        reply = client.get("/v1/models", headers=headers)
        assert reply.status_code == 401, headers
        assert "invalid_token" in reply.headers["WWW-Authenticate"]
        assert key not in reply.get_data(as_text=True)


def test_the_same_key_in_both_headers_passes_and_two_valid_keys_do_not(keyed):
    client, key, other = keyed
    both = client.get("/v1/models", headers={"X-API-Key": key, "Authorization": f"Bearer {key}"})
    assert both.status_code == 200
    two = client.get("/v1/models", headers={"X-API-Key": key, "Authorization": f"Bearer {other}"})
    assert two.status_code == 401
    assert "different keys" in two.json["detail"]
