"""The HTTP API: most tests on Flask's test client (``api``); the first and the body-size
limits over real HTTP (``live_server``, ``server_factory``: a real server on 127.0.0.1)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook

APPLICANT = {"duration": 24, "amount": 4000, "age": 35}


def problem_fields(reply) -> list[str]:
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    body = reply.json()
    assert body["status"] == reply.status_code
    assert "Traceback" not in reply.text
    assert body["request_id"] == reply.headers["X-Request-ID"]
    return [e["field"] for e in body.get("errors", [])]


@pytest.mark.parametrize("model", ["logistic", "forest"])
def test_query_string_and_json_body_give_the_same_score(live_server, model):
    by_query = live_server.get("/v1/predict", params={"model": model, **APPLICANT}).json()
    by_json = live_server.post("/v1/predict", json={"model": model, **APPLICANT}).json()
    assert by_query["probability_default"] == by_json["probability_default"]
    assert by_query["model"] == model
    assert [r["feature"] for r in by_query["reasons"]] != []
    assert sorted(r["feature"] for r in by_query["reasons"]) == ["age", "amount", "duration"]
    assert by_query["decision"] == (
        "decline" if by_query["probability_default"] >= by_query["threshold"] else "approve"
    )


def test_text_format_is_the_bare_probability(api):
    params = {"model": "forest", **APPLICANT}
    text = api.get("/v1/predict", params={**params, "format": "text"})
    assert text.headers["Content-Type"].startswith("text/plain")
    assert float(text.text) == api.get("/v1/predict", params=params).json()["probability_default"]


def test_default_model_is_logistic(api):
    assert api.get("/v1/predict", params=APPLICANT).json()["model"] == "logistic"


def test_reasons_can_be_switched_off(api):
    reply = api.get("/v1/predict", params={**APPLICANT, "reasons": "false"}).json()
    assert reply["reasons"] == []


def test_client_request_id_is_echoed_and_a_bad_one_replaced(api):
    mine = api.get("/health", headers={"X-Request-ID": "excel-42"})
    assert mine.headers["X-Request-ID"] == "excel-42"
    assert mine.json()["request_id"] == "excel-42"
    bad = api.get("/health", headers={"X-Request-ID": "<script>"})
    assert bad.headers["X-Request-ID"] != "<script>"
    assert len(bad.headers["X-Request-ID"]) == 32


def test_model_routes_show_cards(api):
    models = api.get("/v1/models").json()["models"]
    assert {m["name"] for m in models} == {"logistic", "forest", "logistic_full", "forest_full"}
    card = api.get("/v1/models/forest").json()
    assert card["algorithm"] == "RandomForestClassifier"
    assert set(card["metrics"]) >= {"cv", "holdout"}
    health = api.get("/health").json()
    assert health["models"]["forest"] == card["version"]


def test_batch_json_columns_in_any_order_with_extra_columns(api):
    reply = api.post(
        "/v1/predict/batch",
        json={
            "model": "forest",
            "columns": ["AGE", "id", "Amount", "duration"],
            "rows": [[35, "A-1", 4000, 24], [40, "A-2", "abc", 12]],
        },
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["columns"][:3] == ["probability_default", "decision", "error"]
    single = api.post("/v1/predict", json={"model": "forest", **APPLICANT}).json()
    assert body["rows"][0][:3] == [single["probability_default"], single["decision"], None]
    assert body["rows"][1][:3] == [None, None, "amount: not a number ('abc')"]
    assert body["summary"] == {"rows": 2, "scored": 1, "failed": 1, "warned": 0}
    assert body["model_version"] == single["model_version"]


@pytest.mark.parametrize(
    "payload",
    [
        {"model": "forest", "records": [APPLICANT, {"Duration": 12, "amount": 1000, "age": 30}]},
        [{**APPLICANT, "model": "ignored"}, {"Duration": 12, "amount": 1000, "age": 30}],
    ],
)
def test_batch_accepts_lists_of_records(api, payload):
    reply = api.post("/v1/predict/batch", json=payload)
    assert reply.status_code == 200
    assert reply.json()["summary"]["scored"] == 2


def test_batch_with_one_bad_row_in_a_thousand_scores_all_the_others(api):
    rows = [[f"A-{i}", 6 + i % 60, 500 + 13 * i, 20 + i % 50] for i in range(1000)]
    bad = {17: (2, "abc"), 500: (3, 150), 999: (1, None)}
    for i, (column, value) in bad.items():
        rows[i][column] = value
    reply = api.post(
        "/v1/predict/batch",
        json={"model": "logistic", "columns": ["id", "duration", "amount", "age"], "rows": rows},
    ).json()
    assert reply["summary"] == {"rows": 1000, "scored": 997, "failed": 3, "warned": 0}
    errors = {i: r[2] for i, r in enumerate(reply["rows"]) if r[2] is not None}
    assert errors == {
        17: "amount: not a number ('abc')",
        500: "age: must be between 18 and 100 (got 150)",
        999: "duration: is required",
    }
    good = [r for i, r in enumerate(reply["rows"]) if i not in bad]
    assert all(0 <= r[0] <= 1 and r[1] in {"approve", "decline"} for r in good)
    check = api.get("/v1/predict", params={"duration": 6 + 5, "amount": 565, "age": 25})
    assert reply["rows"][5][0] == check.json()["probability_default"]


def test_csv_body_returns_the_input_table_with_results(api):
    body = "id,duration,amount,age\r\n=HYPERLINK(1),24,4000,35\r\nB,12,abc,40\r\n"
    reply = api.post(
        "/v1/predict/batch?model=forest",
        data=body.encode(),
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
    )
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == [
        "id", "duration", "amount", "age", "probability_default", "decision", "error", "warning"
    ]  # fmt: skip
    assert rows[1][0] == "'=HYPERLINK(1)"  # formula injection neutralised
    assert rows[2][4:7] == ["", "", "amount: not a number ('abc')"]
    single = api.get("/v1/predict", params={"model": "forest", **APPLICANT}).json()
    assert float(rows[1][4]) == single["probability_default"]


def test_semicolon_csv_from_a_comma_locale_is_read(api):
    reply = api.post(
        "/v1/predict/batch",
        data=b"duration;amount;age\n24;4000;35\n",
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
    )
    assert reply.status_code == 200
    assert reply.json()["summary"]["scored"] == 1


def test_csv_upload_and_xlsx_upload_give_the_same_scores(api):
    table = [["id", "duration", "amount", "age"], ["A", 24, 4000, 35], ["B", 48, 12000, 23]]
    csv_bytes = "\n".join(",".join(str(v) for v in row) for row in table).encode()
    workbook = Workbook()
    for row in table:
        workbook.active.append(row)
    xlsx = io.BytesIO()
    workbook.save(xlsx)
    by_csv = api.post(
        "/v1/predict/batch?model=forest", files={"file": ("applicants.csv", csv_bytes)}
    ).json()
    by_xlsx = api.post(
        "/v1/predict/batch?model=forest", files={"file": ("applicants.xlsx", xlsx.getvalue())}
    ).json()
    assert by_csv["columns"][:4] == ["id", "duration", "amount", "age"]
    assert [r[4] for r in by_csv["rows"]] == [r[4] for r in by_xlsx["rows"]]
    assert by_xlsx["rows"][0][0] == "A"


def test_batch_reasons_add_contribution_columns(api):
    reply = api.post(
        "/v1/predict/batch?reasons=true",
        json={"columns": ["duration", "amount", "age"], "rows": [[24, 4000, 35]]},
    ).json()
    assert reply["columns"][-3:] == [
        "contribution_duration", "contribution_amount", "contribution_age"
    ]  # fmt: skip
    single = api.get("/v1/predict", params=APPLICANT).json()
    reasons = {r["feature"]: r["contribution"] for r in single["reasons"]}
    assert reply["rows"][0][-3:] == pytest.approx(
        [reasons["duration"], reasons["amount"], reasons["age"]], abs=1e-12
    )


BAD_INPUTS = [
    # (description, method, path, request kwargs, status, field)
    ("text", "POST", "/v1/predict", {"json": {**APPLICANT, "duration": "x"}}, 400, "duration"),
    ("bool", "POST", "/v1/predict", {"json": {**APPLICANT, "age": True}}, 400, "age"),
    ("nested", "POST", "/v1/predict", {"json": {**APPLICANT, "age": [35]}}, 400, "age"),
    ("nan", "GET", "/v1/predict", {"params": {**APPLICANT, "amount": "nan"}}, 400, "amount"),
    ("inf", "GET", "/v1/predict", {"params": {**APPLICANT, "amount": "-inf"}}, 400, "amount"),
    (
        "NaN literal",
        "POST",
        "/v1/predict",
        {"data": b'{"duration": NaN}', "headers": {"Content-Type": "application/json"}},
        400,
        "body",
    ),
    ("negative", "GET", "/v1/predict", {"params": {**APPLICANT, "amount": -5}}, 400, "amount"),
    ("huge", "POST", "/v1/predict", {"json": {**APPLICANT, "duration": 10**30}}, 400, "duration"),
    ("fraction", "POST", "/v1/predict", {"json": {**APPLICANT, "age": 35.5}}, 400, "age"),
    ("missing", "GET", "/v1/predict", {"params": {"duration": 24, "amount": 4000}}, 400, "age"),
    (
        "unknown model",
        "GET",
        "/v1/predict",
        {"params": {**APPLICANT, "model": "gbm"}},
        404,
        "model",
    ),
    ("model not text", "POST", "/v1/predict", {"json": {**APPLICANT, "model": 3}}, 400, "model"),
    (
        "malformed JSON",
        "POST",
        "/v1/predict",
        {"data": b"{", "headers": {"Content-Type": "application/json"}},
        400,
        "body",
    ),
    ("JSON not object", "POST", "/v1/predict", {"json": [1, 2]}, 400, "body"),
    (
        "bad flag",
        "GET",
        "/v1/predict",
        {"params": {**APPLICANT, "reasons": "maybe"}},
        400,
        "reasons",
    ),
    ("bad format", "GET", "/v1/predict", {"params": {**APPLICANT, "format": "xml"}}, 400, "format"),
    (
        "empty table",
        "POST",
        "/v1/predict/batch",
        {"json": {"columns": ["duration", "amount", "age"], "rows": []}},
        400,
        "rows",
    ),
    (
        "duplicate columns",
        "POST",
        "/v1/predict/batch",
        {"json": {"columns": ["age", "AGE", "duration", "amount"], "rows": [[1, 2, 3, 4]]}},
        400,
        "columns",
    ),
    (
        "missing column",
        "POST",
        "/v1/predict/batch",
        {"json": {"columns": ["duration", "amount"], "rows": [[24, 4000]]}},
        400,
        "age",
    ),
    (
        "rows not arrays",
        "POST",
        "/v1/predict/batch",
        {"json": {"columns": ["duration", "amount", "age"], "rows": [{"a": 1}]}},
        400,
        "rows",
    ),
    (
        "unnamed column",
        "POST",
        "/v1/predict/batch",
        {"json": {"columns": ["duration", "amount", "age", 7], "rows": [[1, 2, 3, 4]]}},
        400,
        "columns",
    ),
    (
        "malformed CSV",
        "POST",
        "/v1/predict/batch",
        {"data": b'duration,amount,age\n24,"4000,35\n', "headers": {"Content-Type": "text/csv"}},
        400,
        "body",
    ),
    (
        "empty CSV",
        "POST",
        "/v1/predict/batch",
        {"data": b"\n\n", "headers": {"Content-Type": "text/csv"}},
        400,
        "body",
    ),
    (
        "header-only CSV",
        "POST",
        "/v1/predict/batch",
        {"data": b"duration,amount,age\n", "headers": {"Content-Type": "text/csv"}},
        400,
        "rows",
    ),
    (
        "non-UTF-8 CSV",
        "POST",
        "/v1/predict/batch",
        {
            "data": "duration,amount,age\n24,4000,35 Jahre\xe4\n".encode("latin-1"),
            "headers": {"Content-Type": "text/csv"},
        },
        400,
        "body",
    ),
    (
        "broken xlsx",
        "POST",
        "/v1/predict/batch",
        {"files": {"file": ("a.xlsx", b"PK\x03\x04 not really")}},
        400,
        "file",
    ),
    (
        "upload without file",
        "POST",
        "/v1/predict/batch",
        {"files": {"other": ("a.csv", b"x")}},
        400,
        "file",
    ),
    (
        "upload of a PDF",
        "POST",
        "/v1/predict/batch",
        {"files": {"file": ("a.pdf", b"%PDF-1.4")}},
        415,
        None,
    ),
    (
        "wrong content type",
        "POST",
        "/v1/predict/batch",
        {"data": b"<x/>", "headers": {"Content-Type": "application/xml"}},
        415,
        None,
    ),
    ("form post", "POST", "/v1/predict", {"data": {"duration": 24}}, 415, None),
    ("unknown route", "GET", "/v2/predict", {}, 404, None),
    ("wrong method", "DELETE", "/v1/predict", {}, 405, None),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_the_right_4xx_naming_the_field(api, method, path, kwargs, status, field):
    reply = api.request(method, path, **kwargs)
    assert reply.status_code == status, reply.text
    fields = problem_fields(reply)
    if field is not None:
        assert field in fields
        assert field in reply.json()["detail"]


def test_oversized_body_and_too_many_rows_get_413(server_factory):
    server = server_factory(
        {"CREDITSCORER_MAX_REQUEST_BYTES": "2000", "CREDITSCORER_MAX_BATCH_ROWS": "10"}
    )
    too_many = {"columns": ["duration", "amount", "age"], "rows": [[24, 4000, 35]] * 11}
    reply = server.post("/v1/predict/batch", json=too_many)
    assert reply.status_code == 413
    assert problem_fields(reply) == ["rows"]
    assert "smaller batches" in reply.json()["detail"]
    oversized = server.post(
        "/v1/predict/batch", data=b"x" * 5000, headers={"Content-Type": "text/csv"}
    )
    assert oversized.status_code == 413
    problem_fields(oversized)
    assert "CREDITSCORER_MAX_REQUEST_BYTES" in oversized.json()["detail"]
    # The limits are per request: a small request on the same server still works.
    assert server.post("/v1/predict/batch", json={**too_many, "rows": too_many["rows"][:10]}).ok


def test_reasons_for_too_many_rows_get_413(server_factory):
    server = server_factory({"CREDITSCORER_MAX_REASON_ROWS": "2"})
    table = {"columns": ["duration", "amount", "age"], "rows": [[24, 4000, 35]] * 3}
    reply = server.post("/v1/predict/batch?reasons=true", json=table)
    assert reply.status_code == 413
    assert problem_fields(reply) == ["reasons"]
