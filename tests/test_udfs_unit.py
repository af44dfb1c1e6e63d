"""The UDFs' logic without Excel or a server: settings, cache, errors and table shaping.

A fake transport answers like the API (canned JSON, a model version that can change)
and counts requests; a fake clock moves time. The real server is in test_udfs.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from excel import udfs
from excel.udf_backends import (
    AUTH,
    LIMIT,
    MODEL,
    SCORE,
    SERVER,
    Reply,
    TransportError,
    UdfError,
    error_from_problem,
    plain_value,
    table_columns,
)
from excel.udf_service import (
    DEFAULT_API_URL,
    RESULT_COLUMNS,
    ConfigCache,
    ResultCache,
    Settings,
    UdfService,
    applicant,
    credit_decision,
    credit_reasons,
    credit_score,
    credit_score_table,
    flag,
    model_name,
    prepare_table,
    resolve_settings,
)

URL = "http://scorer.test:5000"
FEATURES = ["duration", "amount", "age"]


def seed(duration: Any, amount: Any, age: Any) -> dict[str, Any]:
    """The record the seed form (CREDIT_SCORE's three arguments) sends."""
    return applicant(FEATURES, (duration, amount, age))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeApi:
    """A transport that answers like the CreditScorer API and records every request."""

    def __init__(self) -> None:
        self.version = "v1"
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.fail_with: Exception | None = None
        self.next_problem: tuple[int, dict[str, Any]] | None = None

    def paths(self) -> list[str]:
        return [f"{method} {urlsplit(url).path}" for method, url, _, _ in self.requests]

    @staticmethod
    def probability(record: dict[str, Any]) -> float:
        return round((float(record["duration"]) + float(record["age"])) / 1000, 6)

    def __call__(self, method, url, *, headers, body, timeout) -> Reply:
        payload = json.loads(body) if body else None
        self.requests.append((method, url, dict(headers), payload))
        if self.fail_with is not None:
            raise self.fail_with
        if self.next_problem is not None:
            status, problem = self.next_problem
            return Reply(status, "application/problem+json", json.dumps(problem).encode())
        path = urlsplit(url).path
        if path == "/health":
            data: dict[str, Any] = {"status": "ok", "models": {"logistic": self.version}}
        elif path == "/v1/models/logistic":
            data = {
                "name": "logistic",
                "version": self.version,
                "features": [{"name": f} for f in FEATURES],
            }
        elif path == "/v1/predict":
            p = self.probability(payload)
            data = {
                "model": payload["model"],
                "model_version": self.version,
                "probability_default": p,
                "decision": "decline" if p >= 0.05 else "approve",
                "reasons": [
                    {"feature": "age", "contribution": 0.3},
                    {"feature": "duration", "contribution": -0.2},
                    {"feature": "amount", "contribution": 0.1},
                ],
            }
        elif path == "/v1/predict/batch":
            index = {name.lower(): j for j, name in enumerate(payload["columns"])}
            rows = []
            for row in payload["rows"]:
                record = {f: row[index[f]] for f in FEATURES}
                # Result columns in an unusual order: the client must find them by name.
                rows.append(["w", None, self.probability(record), "approve"])
            data = {
                "model_version": self.version,
                "columns": ["warning", "error", "probability_default", "decision"],
                "rows": rows,
            }
        else:
            return Reply(404, "application/problem+json", b'{"title": "Not found"}')
        return Reply(200, "application/json", json.dumps(data).encode())


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(api: FakeApi, clock: Clock) -> UdfService:
    return UdfService(transport=api, clock=clock, version_ttl=15.0)


@pytest.fixture
def settings() -> Settings:
    return Settings(api_url=URL)


# --- settings -------------------------------------------------------------------------------


def test_settings_default_to_the_local_server_address():
    settings = resolve_settings({}, {})
    assert settings.api_url == DEFAULT_API_URL == "http://127.0.0.1:5000"
    assert settings.api_key is None
    assert settings.source == "the default"


def test_settings_come_from_the_environment_when_the_sheet_has_none():
    env = {"CREDITSCORER_API_URL": "http://10.0.0.5:8000/", "CREDITSCORER_API_KEY": "k-env"}
    settings = resolve_settings({"UDF Modules": "excel.udfs"}, env)
    assert (settings.api_url, settings.api_key) == ("http://10.0.0.5:8000", "k-env")
    assert settings.source == "the environment"


def test_the_workbook_sheet_wins_over_the_environment():
    env = {"CREDITSCORER_API_URL": "http://10.0.0.5:8000", "CREDITSCORER_API_KEY": "k-env"}
    sheet = {" creditscorer_api_url ": "https://scores.example/", "CREDITSCORER_API_KEY": "k-sheet"}
    settings = resolve_settings(sheet, env)
    assert (settings.api_url, settings.api_key) == ("https://scores.example", "k-sheet")
    assert settings.source == "the xlwings.conf sheet"


def test_a_blank_sheet_value_falls_back_to_the_environment():
    env = {"CREDITSCORER_API_URL": "http://10.0.0.5:8000", "CREDITSCORER_API_KEY": "k-env"}
    settings = resolve_settings({"CREDITSCORER_API_URL": "  ", "CREDITSCORER_API_KEY": None}, env)
    assert (settings.api_url, settings.api_key) == ("http://10.0.0.5:8000", "k-env")


def test_local_mode_uses_the_model_store_folder(tmp_path: Path):
    settings = resolve_settings({"CREDITSCORER_API_URL": "Local"}, {}, model_dir=lambda: tmp_path)
    assert settings.local
    assert settings.model_dir == tmp_path


def test_local_mode_without_a_folder_uses_the_core_default(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CREDITSCORER_MODEL_DIR", str(tmp_path))
    assert resolve_settings({}, {"CREDITSCORER_API_URL": "local"}).model_dir == tmp_path


@pytest.mark.parametrize("url", ["127.0.0.1:5000", "ftp://x", "localhost"])
def test_an_address_without_http_is_an_error_that_names_its_source(url: str):
    with pytest.raises(UdfError) as caught:
        resolve_settings({"CREDITSCORER_API_URL": url}, {})
    assert caught.value.cell == (
        "#SERVER! CREDITSCORER_API_URL from the xlwings.conf sheet must start with http:// "
        f"or https://, or be 'local' (got {url!r})"
    )


def test_timeout_comes_from_the_sheet_as_excel_gives_numbers():
    assert resolve_settings({"CREDITSCORER_TIMEOUT": 5.0}, {}).timeout == 5.0
    assert resolve_settings({}, {"CREDITSCORER_TIMEOUT": "2.5"}).timeout == 2.5


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(value: str):
    with pytest.raises(UdfError, match="CREDITSCORER_TIMEOUT must be a number of seconds"):
        resolve_settings({}, {"CREDITSCORER_TIMEOUT": value})


class FakeRange:
    """What xlwings.utils.read_config_sheet touches: sheets[name][address].options().value."""

    def __init__(self, values: dict[str, Any] | None):
        self.values = values

    def options(self, convert, expand):
        assert (convert, expand) == (dict, "down")
        return self

    @property
    def value(self):
        return self.values


class FakeBook:
    def __init__(self, config: dict[str, Any] | None):
        self.fullname = "C:\\Users\\ana\\CreditScorer.xlsm"
        self.config = config
        self.reads = 0

    @property
    def sheets(self):
        book = self

        class Sheets:
            def __getitem__(self, name):
                book.reads += 1
                if name != "xlwings.conf" or book.config is None:
                    raise KeyError(name)  # what a missing sheet looks like, roughly

                class Sheet:
                    def __getitem__(self, address):
                        assert address == "A1:B1"
                        return FakeRange(book.config)

                return Sheet()

        return Sheets()


class FakeCaller:
    def __init__(self, book: FakeBook):
        self.sheet = type("Sheet", (), {"book": book})()


def test_settings_are_read_from_the_calling_workbooks_xlwings_conf_sheet(monkeypatch):
    monkeypatch.setattr(udfs, "workbook_config", ConfigCache(ttl=5.0, clock=Clock()))
    monkeypatch.setenv("CREDITSCORER_API_URL", "http://env.test:1")
    book = FakeBook({"UDF Modules": "excel.udfs", "CREDITSCORER_API_URL": "http://sheet.test:2"})
    settings = udfs.settings_for(FakeCaller(book))
    assert settings.api_url == "http://sheet.test:2"
    assert settings.source == "the xlwings.conf sheet"


def test_the_sheet_is_read_once_per_few_seconds_not_once_per_cell(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(udfs, "workbook_config", ConfigCache(ttl=5.0, clock=clock))
    book = FakeBook({"CREDITSCORER_API_URL": "http://sheet.test:2"})
    for _ in range(100):
        udfs.settings_for(FakeCaller(book))
    assert book.reads == 1
    clock.now += 5.0
    udfs.settings_for(FakeCaller(book))
    assert book.reads == 2


def test_without_the_sheet_or_a_caller_the_environment_applies(monkeypatch):
    monkeypatch.setattr(udfs, "workbook_config", ConfigCache(ttl=5.0, clock=Clock()))
    monkeypatch.setenv("CREDITSCORER_API_URL", "http://env.test:1")
    assert udfs.settings_for(FakeCaller(FakeBook(None))).api_url == "http://env.test:1"
    assert udfs.settings_for(None).api_url == "http://env.test:1"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "problem", "expected"),
    [
        (
            400,
            {
                "detail": "2 fields are invalid",
                "errors": [
                    {"field": "age", "message": "must be between 18 and 100 (got 15)"},
                    {"field": "duration", "message": "is required"},
                ],
            },
            "#SCORE! age: must be between 18 and 100 (got 15); duration: is required",
        ),
        (400, {"detail": "body: is not valid JSON"}, "#SCORE! body: is not valid JSON"),
        (
            401,
            {"detail": "an API key is required"},
            "#AUTH! an API key is required (401); set CREDITSCORER_API_KEY "
            "(xlwings.conf sheet or environment)",
        ),
        (
            403,
            {"detail": "needs the admin role"},
            "#AUTH! needs the admin role (403); this key may not do that",
        ),
        (
            404,
            {
                "detail": "unknown model 'x'; known models: forest, logistic",
                "errors": [{"field": "model", "message": "unknown model 'x'"}],
            },
            "#MODEL! unknown model 'x'; known models: forest, logistic",
        ),
        (
            404,
            {"detail": "no such route"},
            f"#SERVER! {URL} has no such route: is CREDITSCORER_API_URL a CreditScorer server?",
        ),
        (
            413,
            {"detail": "the table has 9 rows; the limit is 5"},
            "#LIMIT! the table has 9 rows; the limit is 5",
        ),
        (
            503,
            {"detail": "the model could not be loaded"},
            "#MODEL! the model could not be loaded (503)",
        ),
        (
            500,
            {
                "title": "Internal server error",
                "detail": "an unexpected error occurred",
                "request_id": "r-1",
            },
            "#SERVER! 500 Internal server error: an unexpected error occurred (request id r-1)",
        ),
    ],
)
def test_api_problems_become_one_readable_cell(status, problem, expected):
    assert error_from_problem(status, problem, URL).cell == expected


def test_a_reply_that_is_not_json_is_a_server_error(service, settings, api):
    def html(method, url, *, headers, body, timeout):
        return Reply(502, "text/html", b"<html>Bad gateway</html>")

    other = UdfService(transport=html)
    with pytest.raises(UdfError) as caught:
        credit_score(other, settings, seed(24, 4000, 35), None)
    assert caught.value.cell == (
        f"#SERVER! {URL}/v1/predict answered 502 with text/html, not CreditScorer JSON"
    )


def test_no_connection_is_one_clear_message(service, settings, api):
    api.fail_with = TransportError("connection refused")
    with pytest.raises(UdfError) as caught:
        credit_score(service, settings, seed(24, 4000, 35), None)
    assert caught.value.cell == (
        f"#SERVER! cannot reach CreditScorer at {URL} (connection refused): start the server, "
        "or set CREDITSCORER_API_URL (or 'local' to score without a server)"
    )


def test_an_unexpected_exception_becomes_a_one_line_cell_not_a_traceback(monkeypatch):
    def broken(*args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(udfs, "credit_score", broken)
    monkeypatch.setenv("CREDITSCORER_API_URL", URL)
    value = udfs.CREDIT_SCORE(24, 4000, 35)
    assert value == "#SERVER! unexpected error (ZeroDivisionError: division by zero)"


def test_a_bad_setting_is_shown_in_the_cell(monkeypatch):
    monkeypatch.setenv("CREDITSCORER_API_URL", "127.0.0.1:5000")
    assert udfs.CREDIT_SCORE(24, 4000, 35).startswith(
        "#SERVER! CREDITSCORER_API_URL from the environment must start with http://"
    )


# --- arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "logistic"),
        ("", "logistic"),
        ("  ", "logistic"),
        (" Forest ", "forest"),
        ("x1", "x1"),
    ],
)
def test_model_names_are_trimmed_and_lower_case_and_blank_means_the_default(value, expected):
    assert model_name(value) == expected


def test_the_default_model_comes_from_the_sheet_or_the_environment():
    assert resolve_settings({}, {}).model == "logistic"
    from_env = resolve_settings({}, {"CREDITSCORER_DEFAULT_MODEL": " Forest "})
    assert from_env.model == "forest"
    sheet = {"CREDITSCORER_DEFAULT_MODEL": "logistic_full"}
    both = resolve_settings(sheet, {"CREDITSCORER_DEFAULT_MODEL": "forest"})
    assert both.model == "logistic_full"
    assert model_name(None, both) == model_name("", both) == "logistic_full"
    assert model_name("forest", both) == "forest"


def test_the_seed_wrappers_are_the_only_code_naming_features():
    service_code = (Path(udfs.__file__).parent / "udf_service.py").read_text(encoding="utf-8")
    backend_code = (Path(udfs.__file__).parent / "udf_backends.py").read_text(encoding="utf-8")
    for name in ("duration", "amount", "age"):
        assert f'"{name}"' not in service_code + backend_code
    assert udfs.SEED_FEATURES == ("duration", "amount", "age")


def test_a_number_as_model_name_is_an_input_error():
    with pytest.raises(
        UdfError, match=r"^model: must be a model name such as 'forest' \(got 3.0\)$"
    ):
        model_name(3.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True),
        (True, True),
        (False, False),
        (0.0, False),
        (1, True),
        ("FALSE", False),
        ("yes", True),
    ],
)
def test_header_flags_read_like_excel_writes_them(value, expected):
    assert flag("header", value, default=True) is expected


@pytest.mark.parametrize("value", [2.0, "maybe", [[True]]])
def test_an_unclear_flag_is_an_input_error(value):
    with pytest.raises(UdfError, match="header: must be TRUE or FALSE"):
        flag("header", value, default=True)


def test_a_range_where_one_cell_belongs_is_an_input_error(service, settings, api):
    with pytest.raises(UdfError) as caught:
        credit_score(service, settings, seed([[24.0], [36.0]], 4000, 35), None)
    assert caught.value.cell == "#SCORE! duration: expects one cell, got a range of 2 cells"
    assert api.requests == []


def test_a_one_cell_range_is_that_cell(service, settings, api):
    assert credit_score(service, settings, seed([[24.0]], 4000, [35.0]), None) == 0.059


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (24.0, 24),  # Excel's every number is a float: whole ones travel as integers
        (24.5, 24.5),
        (2.0**60, 2.0**60),  # beyond 2**53 a float is not an exact integer any more
        (7, 7),
        (True, True),
        (None, None),
        ("abc", "abc"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (np.float64(2.5), 2.5),
        (np.bool_(True), True),
        (np.int64(3), 3),
        (2**63, float(2**63)),  # beyond what JSON parsers read as integers
        (-(10**400), "-inf"),
        (dt.datetime(2026, 1, 2, 3, 4), "2026-01-02T03:04:00"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (object, str(object)),
    ],
)
def test_cell_values_travel_as_json_and_odd_ones_as_text_for_the_server_to_judge(value, expected):
    sent = plain_value(value)
    assert sent == expected
    assert type(sent) is type(expected)
    json.dumps(sent, allow_nan=False)


def test_the_api_key_travels_in_the_x_api_key_header(api):
    service = UdfService(transport=api)
    credit_score(service, Settings(api_url=URL, api_key="secret-1"), seed(24, 4000, 35), None)
    assert api.requests[0][2]["X-API-Key"] == "secret-1"
    credit_score(service, Settings(api_url=URL), seed(25, 4000, 35), None)
    assert "X-API-Key" not in api.requests[1][2]


# --- the cache --------------------------------------------------------------------------------


def test_a_repeated_score_is_served_from_the_cache(service, settings, api):
    first = credit_score(service, settings, seed(24.0, 4000.0, 35.0), "logistic")
    again = [
        credit_score(service, settings, seed(24.0, 4000.0, 35.0), "logistic") for _ in range(5)
    ]
    assert again == [first] * 5
    assert api.paths() == ["POST /v1/predict"]


def test_score_decision_and_reasons_of_one_applicant_share_one_request(service, settings, api):
    credit_score(service, settings, seed(24, 4000, 35), None)
    credit_decision(service, settings, seed(24.0, 4000.0, 35.0), "")
    credit_reasons(service, settings, seed(24, 4000, 35), "LOGISTIC", False)
    assert api.paths() == ["POST /v1/predict"]


def test_true_is_not_served_the_cached_score_of_1(service, settings, api):
    credit_score(service, settings, seed(24, 4000, 35), None)
    credit_score(service, settings, seed(24, 4000, 35.0), None)
    assert len(api.requests) == 1
    credit_score(service, settings, seed(1, 4000, 35), None)
    credit_score(service, settings, seed(True, 4000, 35), None)
    assert len(api.requests) == 3
    assert api.requests[-1][3]["duration"] is True


def test_other_inputs_models_or_servers_are_other_entries(service, api):
    here, there = Settings(api_url=URL), Settings(api_url=URL.replace("5000", "5001"))
    credit_score(service, here, seed(24, 4000, 35), None)
    credit_score(service, here, seed(24, 4001, 35), None)
    credit_score(service, here, seed(24, 4000, 35), "forest")
    credit_score(service, there, seed(24, 4000, 35), None)
    credit_score(service, there, seed(24, 4000, 35), None)
    assert [url for _, url, _, _ in api.requests] == [f"{URL}/v1/predict"] * 3 + [
        "http://scorer.test:5001/v1/predict"
    ]


def test_after_the_version_ttl_one_health_check_confirms_the_cached_score(
    service, settings, api, clock
):
    credit_score(service, settings, seed(24, 4000, 35), None)
    clock.now += 16
    for _ in range(3):
        credit_score(service, settings, seed(24, 4000, 35), None)
    assert api.paths() == ["POST /v1/predict", "GET /health"]


def test_a_retrained_model_is_never_served_from_the_old_versions_entries(
    service, settings, api, clock
):
    credit_score(service, settings, seed(24, 4000, 35), None)
    api.version = "v2"
    clock.now += 16
    credit_score(service, settings, seed(24, 4000, 35), None)
    assert api.paths() == ["POST /v1/predict", "GET /health", "POST /v1/predict"]
    assert (
        service.predict(settings, "logistic", {"duration": 24, "amount": 4000, "age": 35})[
            "model_version"
        ]
        == "v2"
    )
    assert len(api.requests) == 3


def test_a_reply_with_a_new_version_moves_later_lookups_to_it(service, settings, api):
    credit_score(service, settings, seed(24, 4000, 35), None)
    api.version = "v2"
    credit_score(service, settings, seed(30, 4000, 35), None)  # new input: sent, answered by v2
    credit_score(service, settings, seed(24, 4000, 35), None)  # v1's entry no longer matches
    assert api.paths() == ["POST /v1/predict"] * 3


def test_errors_are_not_cached(service, settings, api):
    api.next_problem = (
        400,
        {"errors": [{"field": "age", "message": "must be between 18 and 100 (got 15)"}]},
    )
    for _ in range(2):
        with pytest.raises(UdfError, match="age: must be between 18 and 100"):
            credit_score(service, settings, seed(24, 4000, 15), None)
    assert len(api.requests) == 2


def test_a_cached_score_needs_the_server_once_the_version_is_stale(service, settings, api, clock):
    credit_score(service, settings, seed(24, 4000, 35), None)
    api.fail_with = TransportError("connection refused")
    assert credit_score(service, settings, seed(24, 4000, 35), None) == 0.059  # within the TTL
    clock.now += 16
    with pytest.raises(UdfError, match=r"^cannot reach CreditScorer"):
        credit_score(service, settings, seed(24, 4000, 35), None)


def test_clearing_the_cache_makes_the_next_call_ask_again(service, settings, api):
    credit_score(service, settings, seed(24, 4000, 35), None)
    assert service.clear() == 1
    credit_score(service, settings, seed(24, 4000, 35), None)
    assert api.paths() == ["POST /v1/predict", "POST /v1/predict"]


def test_credit_clear_cache_empties_the_module_cache(monkeypatch, api):
    monkeypatch.setattr(udfs, "service", UdfService(transport=api))
    monkeypatch.setenv("CREDITSCORER_API_URL", URL)
    udfs.CREDIT_SCORE(24, 4000, 35)
    udfs.CREDIT_SCORE(24, 4000, 36)
    assert udfs.CREDIT_CLEAR_CACHE().startswith("cleared 2 cached results at ")
    udfs.CREDIT_SCORE(24, 4000, 35)
    assert len(api.requests) == 3


def test_the_cache_evicts_the_least_recently_used_rows_first():
    cache = ResultCache(max_rows=10)
    cache.put("a", 1, weight=4)
    cache.put("b", 2, weight=4)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("c", 3, weight=4)
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)
    cache.put("huge", 4, weight=11)
    assert "huge" not in cache
    assert len(cache) == 2
    assert cache.clear() == 2


# --- tables -----------------------------------------------------------------------------------


def test_prepare_table_splits_header_rows_and_blank_rows():
    prepared = prepare_table(
        [
            ["ID", "Duration", 2024.0, None],
            ["a", 24.0, 1.0, None],
            [None, "", " ", None],
            ["b", 6.0, 2.0, 3.0],
        ],
        header=True,
    )
    assert prepared.columns == ["ID", "Duration", "2024", ""]
    assert prepared.rows == [["a", 24.0, 1.0, None], ["b", 6.0, 2.0, 3.0]]
    assert prepared.blank == [False, True, False]


def test_prepare_table_takes_one_row_or_one_value_from_python_callers():
    assert prepare_table([24, 4000, 35], header=False).rows == [[24, 4000, 35]]
    assert prepare_table(7, header=False).rows == [[7]]
    assert prepare_table([[1, 2], [3]], header=False).rows == [[1, 2], [3, None]]
    with pytest.raises(UdfError, match="table: the range is empty"):
        prepare_table([], header=True)


def test_a_table_is_one_request_and_its_result_lines_up_with_the_input(service, settings, api):
    table = [["id", "AGE", "duration", "amount"]]
    table += [[f"r{i}", 30.0 + i % 40, 12.0, 1000.0] for i in range(500)]
    table.insert(101, [None, None, None, None])
    result = credit_score_table(service, settings, table, "logistic", True)
    assert api.paths() == ["POST /v1/predict/batch"]
    assert len(result) == len(table)
    assert result[0] == list(RESULT_COLUMNS)
    assert all(len(row) == 4 for row in result)
    assert result[101] == [None, None, None, None]
    assert result[1] == [0.042, "approve", None, "w"]
    sent = api.requests[0][3]
    assert sent["columns"] == ["id", "AGE", "duration", "amount"]
    assert len(sent["rows"]) == 500
    assert credit_score_table(service, settings, table, "logistic", True) == result
    assert len(api.requests) == 1


def test_a_blank_table_asks_nothing_and_gives_blank_rows(service, settings, api):
    result = credit_score_table(
        service, settings, [["duration", "amount", "age"], [None] * 3], None, True
    )
    assert result == [list(RESULT_COLUMNS), [None] * 4]
    assert api.requests == []


def test_without_a_header_the_columns_are_the_model_cards_features(service, settings, api):
    first = credit_score_table(service, settings, [[24.0, 4000.0, 35.0]], None, False)
    assert first == [[0.059, "approve", None, "w"]]
    assert api.paths() == ["GET /v1/models/logistic", "POST /v1/predict/batch"]
    assert api.requests[1][3]["columns"] == FEATURES
    credit_score_table(service, settings, [[25.0, 4000.0, 35.0]], None, False)
    assert api.paths()[2:] == ["POST /v1/predict/batch"]  # the card is cached per version


def test_without_a_header_the_width_must_match_the_features(service, settings, api):
    with pytest.raises(UdfError) as caught:
        credit_score_table(service, settings, [[24.0, 4000.0]], None, False)
    assert caught.value.cell == (
        "#SCORE! table: without a header row the table needs 3 columns "
        "(duration, amount, age, in that order); it has 2"
    )


def test_a_batch_reply_without_the_result_columns_is_a_server_error(settings):
    def odd(method, url, *, headers, body, timeout):
        data = {"model_version": "v1", "columns": ["probability_default"], "rows": [[0.1]]}
        return Reply(200, "application/json", json.dumps(data).encode())

    with pytest.raises(UdfError) as caught:
        credit_score_table(UdfService(transport=odd), settings, [[1, 2, 3]], None, False)
    assert caught.value.kind == SERVER


def test_table_columns_follow_the_apis_naming_rules():
    rows = [[1, 2, 3]]
    assert table_columns([" Age", "x", "DURATION"], rows, FEATURES) == {"age": [1], "duration": [3]}
    with pytest.raises(UdfError, match=r"columns: column 2 has no name"):
        table_columns(["age", "", "x"], rows, FEATURES)
    with pytest.raises(UdfError, match=r"columns: duplicate column 'Age'"):
        table_columns(["age", "Age", "x"], rows, FEATURES)


def test_reasons_come_in_argument_order_with_an_optional_header(service, settings):
    assert credit_reasons(service, settings, seed(24, 4000, 35), None, False) == [[-0.2, 0.1, 0.3]]
    assert credit_reasons(service, settings, seed(24, 4000, 35), None, True) == [
        ["duration", "amount", "age"],
        [-0.2, 0.1, 0.3],
    ]


def test_error_kinds_are_the_documented_prefixes():
    assert [UdfError(k, "m").cell for k in (SCORE, MODEL, AUTH, LIMIT, SERVER)] == [
        "#SCORE! m",
        "#MODEL! m",
        "#AUTH! m",
        "#LIMIT! m",
        "#SERVER! m",
    ]
