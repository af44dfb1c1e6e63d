"""The worksheet functions, called as Python functions, against a real server on 127.0.0.1.

Excel is not here (xlwings UDFs need Windows Excel); what Excel would do is call these
same functions with cell values (numbers as floats) and show what they return. Each
test compares with the API's own answer to the same question, asked directly.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from support import PROJECT_ROOT

from excel import udfs
from excel.udf_backends import RequestsTransport
from excel.udf_service import RESULT_COLUMNS, ConfigCache, UdfService

APPLICANTS = [
    (24.0, 4000.0, 35.0),
    (6.0, 1169.0, 67.0),
    (48.0, 5951.0, 22.0),
    (12.0, 250.0, 75.0),
    (72.0, 18424.0, 19.0),
    (120.0, 999_999.0, 100.0),  # accepted, outside the training range: scored with a warning
]
MODELS = ["logistic", "forest"]


class CountingTransport:
    """The real transport, counting what it sends."""

    def __init__(self) -> None:
        self._real = RequestsTransport()
        self.sent: list[str] = []

    def __call__(self, method, url, *, headers, body, timeout):
        self.sent.append(f"{method} {urlsplit(url).path}")
        return self._real(method, url, headers=headers, body=body, timeout=timeout)

    def close(self) -> None:
        self._real.close()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def counting() -> Iterator[CountingTransport]:
    transport = CountingTransport()
    yield transport
    transport.close()


@pytest.fixture
def api_mode(monkeypatch, live_server, counting) -> CountingTransport:
    """The UDFs pointed at the live server (environment setting), with a fresh cache."""
    monkeypatch.setenv("CREDITSCORER_API_URL", live_server.url)
    monkeypatch.delenv("CREDITSCORER_API_KEY", raising=False)
    monkeypatch.delenv("CREDITSCORER_TIMEOUT", raising=False)
    monkeypatch.setattr(udfs, "service", UdfService(transport=counting))
    monkeypatch.setattr(udfs, "workbook_config", ConfigCache())
    return counting


def predict_directly(live_server, model: str, applicant) -> requests.Response:
    duration, amount, age = applicant
    body = {"model": model, "duration": duration, "amount": amount, "age": age}
    return live_server.post("/v1/predict", json=body, timeout=30)


def use_local_mode(monkeypatch, model_dir: Path) -> None:
    monkeypatch.setenv("CREDITSCORER_API_URL", "local")
    monkeypatch.setenv("CREDITSCORER_MODEL_DIR", str(model_dir))
    monkeypatch.setattr(udfs, "service", UdfService())


def applicant_table(n_rows: int) -> list[list[Any]]:
    """A worksheet range: header, valid rows, and now and then a bad or a blank row."""
    table: list[list[Any]] = [["id", "Age", "duration", "AMOUNT"]]
    for i in range(n_rows):
        duration, amount, age = APPLICANTS[i % len(APPLICANTS)]
        if i % 97 == 13:
            age = 17.0
        row = [f"A-{i}", age, duration + i % 7, amount + i]
        if i % 89 == 5:
            row[3] = "12,5"  # a decimal comma: refused, not guessed
        table.append([None, None, None, None] if i % 101 == 50 else row)
    return table


# --- values equal the API's own answers -----------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_credit_score_and_decision_equal_the_apis_answer(api_mode, live_server, model):
    for applicant in APPLICANTS:
        expected = predict_directly(live_server, model, applicant).json()
        assert udfs.CREDIT_SCORE(*applicant, model) == expected["probability_default"]
        assert udfs.CREDIT_DECISION(*applicant, model) == expected["decision"]


def test_the_default_model_is_logistic(api_mode, live_server):
    expected = predict_directly(live_server, "logistic", APPLICANTS[0]).json()
    assert udfs.CREDIT_SCORE(*APPLICANTS[0]) == expected["probability_default"]
    assert udfs.CREDIT_SCORE(*APPLICANTS[0], None) == expected["probability_default"]


def test_the_default_model_follows_the_setting(api_mode, live_server, monkeypatch):
    monkeypatch.setenv("CREDITSCORER_DEFAULT_MODEL", "forest")
    expected = predict_directly(live_server, "forest", APPLICANTS[0]).json()
    assert udfs.CREDIT_SCORE(*APPLICANTS[0]) == expected["probability_default"]
    assert udfs.CREDIT_SCORE_TABLE([["duration", "amount", "age"], list(APPLICANTS[0])]) == [
        ["probability_default", "decision", "error", "warning"],
        [expected["probability_default"], expected["decision"], None, None],
    ]


@pytest.mark.parametrize("model", MODELS)
def test_credit_reasons_are_the_apis_contributions_in_argument_order(api_mode, live_server, model):
    expected = predict_directly(live_server, model, APPLICANTS[2]).json()
    by_feature = {r["feature"]: r["contribution"] for r in expected["reasons"]}
    header, row = udfs.CREDIT_REASONS(*APPLICANTS[2], model, True)
    assert header == ["duration", "amount", "age"]
    assert row == [by_feature["duration"], by_feature["amount"], by_feature["age"]]
    # Shapley values: the base probability plus the contributions is the score.
    assert expected["base_probability"] + sum(row) == pytest.approx(
        expected["probability_default"], abs=1e-9
    )
    assert udfs.CREDIT_REASONS(*APPLICANTS[2], model) == [row]


@pytest.mark.parametrize("model", MODELS)
def test_credit_score_table_equals_the_apis_batch_reply_in_one_request(
    api_mode, live_server, model
):
    table = applicant_table(300)
    result = udfs.CREDIT_SCORE_TABLE(table, model)
    assert api_mode.sent == ["POST /v1/predict/batch"]

    assert len(result) == len(table)
    assert {len(row) for row in result} == {len(RESULT_COLUMNS)}
    assert result[0] == list(RESULT_COLUMNS)
    sent_rows = [row for row in table[1:] if any(v is not None for v in row)]
    reply = live_server.post(
        "/v1/predict/batch",
        json={"model": model, "columns": table[0], "rows": sent_rows},
    ).json()
    columns = reply["columns"]
    expected = iter(
        [[row[columns.index(name)] for name in RESULT_COLUMNS] for row in reply["rows"]]
    )
    for source, got in zip(table[1:], result[1:], strict=True):
        if all(v is None for v in source):
            assert got == [None, None, None, None]
        else:
            assert got == next(expected)
    errors = [row[2] for row in result[1:] if row[2]]
    assert "age: must be between 18 and 100 (got 17)" in errors
    assert any(e.startswith("amount: not a number ('12,5')") for e in errors)


def test_a_10000_row_table_is_one_request_and_10000_result_rows(api_mode):
    table = [["duration", "amount", "age"]] + [
        [float(6 + i % 60), float(500 + i), float(20 + i % 50)] for i in range(10_000)
    ]
    result = udfs.CREDIT_SCORE_TABLE(table, "forest")
    assert api_mode.sent == ["POST /v1/predict/batch"]
    assert len(result) == 10_001
    assert all(isinstance(row[0], float) and row[2] is None for row in result[1:])


def test_a_table_without_header_row_uses_the_model_cards_column_order(api_mode, live_server):
    rows = [list(a) for a in APPLICANTS]
    result = udfs.CREDIT_SCORE_TABLE(rows, "forest", False)
    assert len(result) == len(rows)
    for applicant, got in zip(APPLICANTS, result, strict=True):
        assert (
            got[0]
            == predict_directly(live_server, "forest", applicant).json()["probability_default"]
        )
    assert api_mode.sent == ["GET /v1/models/forest", "POST /v1/predict/batch"]


def test_credit_models_lists_the_servers_models(api_mode, live_server):
    listed = udfs.CREDIT_MODELS()
    assert listed[0] == [
        "model",
        "version",
        "algorithm",
        "threshold",
        "cv_roc_auc",
        "holdout_roc_auc",
        "trained_at",
    ]
    expected = live_server.get("/v1/models").json()["models"]
    assert listed[1:] == [
        [
            m["name"],
            m["version"],
            m["algorithm"],
            m["threshold"],
            m["cv_roc_auc"],
            m["holdout_roc_auc"],
            m["trained_at"],
        ]
        for m in expected
    ]
    assert {row[0] for row in listed[1:]} == {"logistic", "forest", "logistic_full", "forest_full"}


# --- requests: one per table, none when cached -----------------------------------------------


def test_cached_calls_make_no_request(api_mode):
    table = applicant_table(50)
    first = [
        udfs.CREDIT_SCORE(*APPLICANTS[0], "forest"),
        udfs.CREDIT_SCORE_TABLE(table, "forest"),
    ]
    assert api_mode.sent == ["POST /v1/predict", "POST /v1/predict/batch"]
    for _ in range(3):
        again = [
            udfs.CREDIT_SCORE(*APPLICANTS[0], "forest"),
            udfs.CREDIT_SCORE_TABLE([list(r) for r in table], "forest"),
        ]
        udfs.CREDIT_DECISION(*APPLICANTS[0], "forest")
        udfs.CREDIT_REASONS(*APPLICANTS[0], "forest")
        assert again == first
    assert len(api_mode.sent) == 2


def test_one_changed_cell_sends_the_table_again_once(api_mode):
    table = applicant_table(20)
    udfs.CREDIT_SCORE_TABLE(table, "logistic")
    table[3][1] = 44.0
    udfs.CREDIT_SCORE_TABLE(table, "logistic")
    udfs.CREDIT_SCORE_TABLE(table, "logistic")
    assert api_mode.sent == ["POST /v1/predict/batch"] * 2


class CountingProxy:
    """A reverse proxy on 127.0.0.1 that counts the HTTP requests reaching the server.

    It counts on the wire, independently of the UDFs' transport abstraction.
    """

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                proxy.seen.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("content-type", "x-api-key")
                }
                reply = requests.request(
                    self.command, proxy.upstream + self.path, data=body, headers=headers, timeout=30
                )
                self.send_response(reply.status_code)
                self.send_header("Content-Type", reply.headers.get("Content-Type", ""))
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            do_GET = do_POST = _forward

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CountingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_the_server_side_sees_one_request_per_table_and_none_for_a_recalculation(
    monkeypatch, live_server
):
    with CountingProxy(live_server.url) as proxy:
        monkeypatch.setenv("CREDITSCORER_API_URL", proxy.url)
        monkeypatch.setattr(udfs, "service", UdfService())  # the default transport
        table = applicant_table(1_000)
        first = udfs.CREDIT_SCORE_TABLE(table, "forest")
        assert proxy.seen == ["POST /v1/predict/batch"]
        assert udfs.CREDIT_SCORE_TABLE(table, "forest") == first
        assert proxy.seen == ["POST /v1/predict/batch"]
        assert len(first) == 1_001


# --- error cells -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "applicant",
    [
        (24.0, 4000.0, 15.0),
        (24.5, 4000.0, 35.0),
        (24.0, "abc", 35.0),
        (24.0, "1,200", 35.0),
        (None, 4000.0, 35.0),
        (0.0, -1.0, 101.0),
        (24.0, True, 35.0),
        (24.0, "#N/A", 35.0),  # what err_to_str makes of an error cell
    ],
)
def test_bad_inputs_give_the_apis_message_in_the_cell(api_mode, live_server, applicant):
    reply = predict_directly(live_server, "forest", applicant)
    assert reply.status_code == 400
    fields = "; ".join(f"{e['field']}: {e['message']}" for e in reply.json()["errors"])
    cell = udfs.CREDIT_SCORE(*applicant, "forest")
    assert cell == f"#SCORE! {fields}"
    assert udfs.CREDIT_DECISION(*applicant, "forest") == cell
    assert udfs.CREDIT_REASONS(*applicant, "forest") == cell


def test_the_issues_example_error_cell(api_mode):
    assert udfs.CREDIT_SCORE(24, 4000, 15, "forest") == (
        "#SCORE! age: must be between 18 and 100 (got 15)"
    )


def test_an_unknown_model_is_a_model_error(api_mode, live_server):
    detail = predict_directly(live_server, "nope", APPLICANTS[0]).json()["detail"]
    assert udfs.CREDIT_SCORE(*APPLICANTS[0], "nope") == f"#MODEL! {detail}"
    assert udfs.CREDIT_SCORE_TABLE(applicant_table(3), "nope") == f"#MODEL! {detail}"
    assert (
        detail == "unknown model 'nope'; known models: forest, forest_full, logistic, logistic_full"
    )


def test_a_table_without_a_required_column_is_one_error_cell(api_mode):
    cell = udfs.CREDIT_SCORE_TABLE([["duration", "amount"], [24.0, 4000.0]], "forest")
    assert cell == "#SCORE! age: column is required"


def test_a_stopped_server_gives_one_clear_message(monkeypatch, server_factory, counting):
    server = server_factory()
    monkeypatch.setenv("CREDITSCORER_API_URL", server.url)
    monkeypatch.setattr(udfs, "service", UdfService(transport=counting))
    assert isinstance(udfs.CREDIT_SCORE(*APPLICANTS[0]), float)
    server.stop()
    expected = (
        f"#SERVER! cannot reach CreditScorer at {server.url} (connection refused): start the "
        "server, or set CREDITSCORER_API_URL (or 'local' to score without a server)"
    )
    assert udfs.CREDIT_SCORE(*APPLICANTS[1]) == expected
    assert udfs.CREDIT_DECISION(*APPLICANTS[1]) == expected
    assert udfs.CREDIT_SCORE_TABLE(applicant_table(5)) == expected
    assert udfs.CREDIT_MODELS() == expected
    assert "Traceback" not in expected


def test_a_server_that_never_answers_times_out_with_a_message(monkeypatch):
    # A listening socket that nobody accepts from: the connection opens, no reply comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("CREDITSCORER_API_URL", url)
        monkeypatch.setenv("CREDITSCORER_TIMEOUT", "0.5")
        monkeypatch.setattr(udfs, "service", UdfService())
        started = time.perf_counter()
        cell = udfs.CREDIT_SCORE(*APPLICANTS[0])
        elapsed = time.perf_counter() - started
    assert cell == (
        f"#SERVER! cannot reach CreditScorer at {url} (no answer within 0.5 s): start the "
        "server, or set CREDITSCORER_API_URL (or 'local' to score without a server)"
    )
    assert elapsed < 5


def test_a_retrained_model_is_scored_afresh_after_the_version_check(
    monkeypatch, server_factory, model_dir, tmp_path, counting
):
    own_store = tmp_path / "models"
    shutil.copytree(model_dir, own_store)
    server = server_factory({"CREDITSCORER_MODEL_DIR": str(own_store)})
    clock = Clock()
    monkeypatch.setenv("CREDITSCORER_API_URL", server.url)
    monkeypatch.setattr(udfs, "service", UdfService(transport=counting, clock=clock))
    old_version = server.get("/health").json()["models"]["logistic"]
    udfs.CREDIT_SCORE(*APPLICANTS[0])
    udfs.CREDIT_SCORE(*APPLICANTS[0])
    assert counting.sent == ["POST /v1/predict"]

    from training import train_all

    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(time.time()) + 86_400))  # a new version name
    train_all(own_store, quick=True, names=("logistic",))
    new_version = server.get("/health").json()["models"]["logistic"]
    assert new_version != old_version

    clock.now += 60  # later than the version TTL: the next cached lookup checks /health
    score = udfs.CREDIT_SCORE(*APPLICANTS[0])
    assert counting.sent == ["POST /v1/predict", "GET /health", "POST /v1/predict"]
    expected = predict_directly(server, "logistic", APPLICANTS[0]).json()
    assert expected["model_version"] == new_version
    assert score == expected["probability_default"]


# --- configuration --------------------------------------------------------------------------


class SheetCaller:
    """An xlwings caller whose workbook has an xlwings.conf sheet with ``config``."""

    def __init__(self, config: dict[str, Any]):
        class Range:
            def options(self, convert, expand):
                return self

            value = config

        class Book:
            def __init__(self) -> None:
                self.fullname = f"Book-{id(self)}.xlsm"  # each fake workbook its own settings
                self.sheets = {"xlwings.conf": {"A1:B1": Range()}}

        self.sheet = type("Sheet", (), {"book": Book()})()


def test_the_workbooks_sheet_setting_beats_the_environment(monkeypatch, live_server):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("CREDITSCORER_API_URL", dead)
    monkeypatch.setattr(udfs, "service", UdfService())
    monkeypatch.setattr(udfs, "workbook_config", ConfigCache())
    caller = SheetCaller({"UDF Modules": "excel.udfs", "CREDITSCORER_API_URL": live_server.url})
    expected = predict_directly(live_server, "forest", APPLICANTS[0]).json()
    assert udfs.CREDIT_SCORE(*APPLICANTS[0], "forest", caller) == expected["probability_default"]
    assert udfs.CREDIT_SCORE(*APPLICANTS[0], "forest").startswith(
        f"#SERVER! cannot reach CreditScorer at {dead}"
    )


# --- local mode -------------------------------------------------------------------------------


def test_local_mode_gives_the_same_answers_as_the_api(monkeypatch, live_server, model_dir):
    table = applicant_table(200)
    api: dict[str, Any] = {}
    local: dict[str, Any] = {}
    for mode, answers in (("api", api), ("local", local)):
        if mode == "api":
            monkeypatch.setenv("CREDITSCORER_API_URL", live_server.url)
            monkeypatch.setattr(udfs, "service", UdfService())
        else:
            use_local_mode(monkeypatch, model_dir)
        for model in MODELS:
            for applicant in [*APPLICANTS, (24.0, 4000.0, 15.0), (24.0, "abc", 35.0)]:
                key = (model, applicant)
                answers[("score", key)] = udfs.CREDIT_SCORE(*applicant, model)
                answers[("decision", key)] = udfs.CREDIT_DECISION(*applicant, model)
                answers[("reasons", key)] = udfs.CREDIT_REASONS(*applicant, model, True)
            answers[("table", model)] = udfs.CREDIT_SCORE_TABLE(table, model)
            answers[("no header", model)] = udfs.CREDIT_SCORE_TABLE(
                [list(a) for a in APPLICANTS], model, False
            )
        answers["models"] = udfs.CREDIT_MODELS()
        answers["unknown"] = udfs.CREDIT_SCORE(*APPLICANTS[0], "nope")
        answers["missing column"] = udfs.CREDIT_SCORE_TABLE([["age"], [30.0]])
    assert local.keys() == api.keys()
    for key in api:
        assert local[key] == api[key], key
    assert isinstance(api[("score", ("forest", APPLICANTS[0]))], float)


def test_local_mode_imports_neither_flask_nor_requests(live_server, model_dir):
    code = (
        "import json, sys\n"
        "from excel import udfs\n"
        "score = udfs.CREDIT_SCORE(24.0, 4000.0, 35.0, 'forest')\n"
        "names = ('flask', 'werkzeug', 'server', 'requests')\n"
        "loaded = sorted(m for m in names if m in sys.modules)\n"
        "print(json.dumps({'score': score, 'loaded': loaded}))\n"
    )
    env = {
        "CREDITSCORER_API_URL": "local",
        "CREDITSCORER_MODEL_DIR": str(model_dir),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["loaded"] == []
    expected = predict_directly(live_server, "forest", (24.0, 4000.0, 35.0)).json()
    assert result["score"] == expected["probability_default"]


def test_local_mode_without_models_says_how_to_get_them(monkeypatch, tmp_path):
    use_local_mode(monkeypatch, tmp_path / "empty")
    assert udfs.CREDIT_MODELS() == (
        f"#MODEL! no trained models in {tmp_path / 'empty'}: run 'python -m training' "
        "or set CREDITSCORER_MODEL_DIR"
    )
    assert udfs.CREDIT_SCORE(*APPLICANTS[0]).startswith("#MODEL! unknown model 'logistic'")


def add_api_key(database_url: str) -> str:
    command = ["-m", "server", "keys", "--database-url", database_url, "add", "--name", "udfs"]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_api_keys_from_the_environment_or_the_sheet_and_a_clear_auth_error(
    monkeypatch, server_factory, tmp_path
):
    database_url = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    key = add_api_key(database_url)
    server = server_factory({"CREDITSCORER_DATABASE_URL": database_url})
    monkeypatch.setenv("CREDITSCORER_API_URL", server.url)
    monkeypatch.delenv("CREDITSCORER_API_KEY", raising=False)
    monkeypatch.setattr(udfs, "service", UdfService())
    monkeypatch.setattr(udfs, "workbook_config", ConfigCache())

    refused = server.post("/v1/predict", json={"duration": 24, "amount": 4000, "age": 35})
    assert refused.status_code == 401
    detail = refused.json()["detail"]
    assert udfs.CREDIT_SCORE(*APPLICANTS[0]) == (
        f"#AUTH! {detail} (401); set CREDITSCORER_API_KEY (xlwings.conf sheet or environment)"
    )
    expected = server.post(
        "/v1/predict",
        json={"duration": 24.0, "amount": 4000.0, "age": 35.0},
        headers={"X-API-Key": key},
    ).json()["probability_default"]
    assert udfs.CREDIT_SCORE(*APPLICANTS[0], None, SheetCaller({"CREDITSCORER_API_KEY": key})) == (
        expected
    )
    monkeypatch.setenv("CREDITSCORER_API_KEY", "cs_000000000000_wrong")
    assert udfs.CREDIT_SCORE(*APPLICANTS[1]).startswith("#AUTH! ")
    monkeypatch.setenv("CREDITSCORER_API_KEY", key)
    assert udfs.CREDIT_SCORE_TABLE(applicant_table(3))[1][0] == expected


# --- properties ------------------------------------------------------------------------------

CELL_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.datetimes(),
    st.sampled_from(["#N/A", "#DIV/0!", "1,200", " 24 ", "1e3", "12 000", "24.0"]),
    st.lists(st.floats(0, 200), max_size=3),
)


@settings(max_examples=50, deadline=None)
@given(duration=CELL_VALUES, amount=CELL_VALUES, age=CELL_VALUES)
def test_any_cell_values_give_a_probability_or_an_input_error(live_server, duration, amount, age):
    caller = SheetCaller({"CREDITSCORER_API_URL": live_server.url})
    value = udfs.CREDIT_SCORE(duration, amount, age, "forest", caller)
    if isinstance(value, float):
        assert 0.0 <= value <= 1.0
    else:
        assert value.startswith("#SCORE! "), value


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.lists(CELL_VALUES, min_size=3, max_size=3), min_size=1, max_size=8))
def test_any_table_gives_one_result_row_per_input_row(live_server, rows):
    caller = SheetCaller({"CREDITSCORER_API_URL": live_server.url})
    table = [["duration", "amount", "age"], *rows]
    result = udfs.CREDIT_SCORE_TABLE(table, "logistic", True, caller)
    assert isinstance(result, list), result
    assert len(result) == len(table)
    for source, (probability, decision, error, _) in zip(rows, result[1:], strict=True):
        if probability is None:
            blank = all(v is None or (isinstance(v, str) and not v.strip()) for v in source)
            assert blank or error, (source, error)
        else:
            assert 0.0 <= probability <= 1.0
            assert decision in ("approve", "decline")
