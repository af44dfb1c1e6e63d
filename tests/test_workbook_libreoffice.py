"""The committed workbook's macros, run in headless LibreOffice against a real server.

Each test "clicks" a button: it asks LibreOffice which macro the imported button is bound
to and invokes exactly that one, saves a copy, and compares the cells (read back with
openpyxl) with the API's own answer for the same inputs. LibreOffice runs with a German
locale (decimal comma) for the whole module, so number handling that depends on the
locale would show here.

In LibreOffice one module that does not compile silently disables every macro; every test
therefore checks specific values, never just "no error".
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
import requests
from support import PROJECT_ROOT, require_part
from workbook_support import NAMED_CELLS, WORKBOOK_PATH

from excel.lo_driver import LibreOffice, LibreOfficeError, libreoffice_available

pytestmark = [pytest.mark.libreoffice, pytest.mark.slow]

RESULT_COLUMNS = ("probability_default", "decision", "error", "warning")


@pytest.fixture(scope="module")
def office() -> Iterator[LibreOffice]:
    """One soffice for the module, with a fresh profile and the de-DE locale."""
    available, reason = libreoffice_available()
    require_part(available, "libreoffice", reason)
    with LibreOffice(locale="de-DE") as lo:
        yield lo


class Book:
    """A copy of the committed workbook, open in LibreOffice."""

    def __init__(self, office: LibreOffice, path: Path):
        self.office = office
        self.path = path
        self.doc = office.open(path)
        self.bound = {}
        for button in office.buttons(self.doc):
            (script,) = button["scripts"]
            macro = script.split("VBAProject.", 1)[1].split("?", 1)[0]
            self.bound[button["caption"]] = macro

    def click(self, caption: str, timeout: float = 180.0) -> None:
        """Run the macro the button is bound to, as a click does."""
        self.office.run_macro(self.doc, self.bound[caption], timeout=timeout)

    def set(self, **values) -> None:
        self.office.set_cells(self.doc, values)

    def saved(self) -> openpyxl.Workbook:
        """Save a copy and read it with openpyxl (values, not formulas)."""
        copy = self.path.with_name(f"saved-{len(list(self.path.parent.iterdir()))}.xlsm")
        self.office.save_copy(self.doc, copy)
        return openpyxl.load_workbook(copy, data_only=True)


def named(workbook: openpyxl.Workbook, name: str):
    sheet, cell = NAMED_CELLS[name]
    return workbook[sheet][cell].value


def _request_folders() -> set[Path]:
    """The private folders the workbook's curl transport makes, one per session."""
    return set(Path(tempfile.gettempdir()).glob("creditscorer-*/"))


@pytest.fixture
def book_factory(office, tmp_path) -> Iterator:
    opened: list[Book] = []
    folders = _request_folders()

    def factory(api_url: str) -> Book:
        path = tmp_path / f"book-{len(opened)}" / "CreditScorer.xlsm"
        path.parent.mkdir()
        shutil.copyfile(WORKBOOK_PATH, path)
        book = Book(office, path)
        book.set(ApiUrl=api_url)
        opened.append(book)
        return book

    yield factory
    for book in opened:
        office.close_doc(book.doc)
    for folder in _request_folders() - folders:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def book(book_factory, live_server) -> Book:
    return book_factory(live_server.url)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_libreoffice_runs_with_a_decimal_comma_locale(book):
    book.set(**{"Applicant!Z1": 0.5})
    assert book.office.get_text(book.doc, ["Applicant!Z1"]) == {"Applicant!Z1": "0,5"}


def test_buttons_are_bound_to_the_macros_of_the_build(book):
    assert book.bound == {
        "Score applicant": "CreditScorerButtons.ScoreApplicant",
        "Score table": "CreditScorerButtons.ScoreTable",
        "Test connection": "CreditScorerButtons.TestConnection",
    }


@pytest.mark.parametrize(
    ("model", "duration", "amount", "age"),
    [("logistic", 24, 4000.5, 35), ("forest", 24, 4000.5, 35), ("forest", 80, 1234, 19)],
)
def test_score_applicant_writes_the_apis_answer(book, live_server, model, duration, amount, age):
    book.set(InputModel=model, InputDuration=duration, InputAmount=amount, InputAge=age)
    book.click("Score applicant")
    saved = book.saved()

    expected = live_server.post(
        "/v1/predict", json={"model": model, "duration": duration, "amount": amount, "age": age}
    ).json()
    assert named(saved, "ResultStatus") == "OK"
    assert named(saved, "ResultProbability") == pytest.approx(
        expected["probability_default"], rel=1e-12
    )
    assert named(saved, "ResultDecision") == expected["decision"]
    assert named(saved, "ResultThreshold") == pytest.approx(expected["threshold"], rel=1e-12)
    assert named(saved, "ResultModel") == model
    assert named(saved, "ResultModelVersion") == expected["model_version"]
    assert named(saved, "ResultWarnings") == ("; ".join(expected["warnings"]) or None)
    sheet = saved["Applicant"]
    reasons = [(sheet.cell(r, 1).value, sheet.cell(r, 2).value) for r in range(19, 25)]
    assert [r for r in reasons if r[0] is not None] == [
        (reason["feature"], pytest.approx(reason["contribution"], rel=1e-12, abs=1e-15))
        for reason in expected["reasons"]
    ]
    raw = json.loads(named(saved, "ResultJson"))
    assert named(saved, "ResultRequestId") == raw["request_id"]
    assert {k: v for k, v in raw.items() if k != "request_id"} == {
        k: v for k, v in expected.items() if k != "request_id"
    }
    if duration == 80:  # the warning's en dash came through the curl file intact
        assert "4–72" in named(saved, "ResultWarnings")


def test_score_applicant_lists_the_field_messages_of_a_400(book, live_server):
    book.set(InputModel="forest", InputDuration=0, InputAmount="abc", InputAge=17)
    book.click("Score applicant")
    saved = book.saved()

    problem = live_server.post(
        "/v1/predict", json={"model": "forest", "duration": 0, "amount": "abc", "age": 17}
    ).json()
    status = named(saved, "ResultStatus")
    assert status.startswith("Error: The server rejected the input (400 ")
    for error in problem["errors"]:
        assert f"- {error['field']}: {error['message']}" in status
    assert named(saved, "ResultProbability") is None
    assert named(saved, "ResultDecision") is None


def test_test_connection_shows_models_and_versions(book, live_server):
    book.click("Test connection")
    saved = book.saved()

    health = live_server.get("/health").json()
    listing = "; ".join(f"{name} {version}" for name, version in health["models"].items())
    assert named(saved, "ConnectionModels") == listing
    assert named(saved, "ConnectionStatus") == (
        f"OK: Connected to {live_server.url} (status ok). Models: {listing}"
    )


def _batch_rows(count: int) -> list[list]:
    """Applicants from the training data, with invalid and out-of-range rows mixed in."""
    with (PROJECT_ROOT / "training" / "data" / "german_credit.csv").open() as handle:
        records = list(csv.DictReader(handle))
    rows: list[list] = []
    for index in range(count):
        record = records[index % len(records)]
        row = [f"B-{index:04d}", int(record["duration"]), int(record["amount"]), int(record["age"])]
        match index % 50:
            case 3:
                row[2] = "abc"  # not a number
            case 11:
                row[3] = 17  # too young
            case 19:
                row[1] = 0  # outside the accepted range
            case 27:
                row[1] = None  # missing
            case 31:
                row[1] = 80  # accepted, but outside the training range: a warning
            case 37:
                row[2] = 'x"y'  # an error message with an escaped quote in the reply
            case 41:
                row[0] = f"Müller \\ {index}"  # non-ASCII and a backslash in the id
            case 43:
                row[2] = 2500.75  # decimals, whatever the locale
        rows.append(row)
    return rows


def test_score_table_of_1000_rows_with_bad_rows(book, live_server):
    rows = _batch_rows(1000)
    book.set(BatchSize=300, DefaultModel="forest")
    book.office.clear_range(book.doc, "Batch", "A2:H100")
    book.office.set_range(book.doc, "Batch", "A2", rows)
    for offset, row in enumerate(rows):
        for column, value in enumerate(row):
            if value is None:  # an empty cell, not an empty string
                cell = f"{'ABCD'[column]}{offset + 2}"
                book.office.clear_range(book.doc, "Batch", cell)
    book.click("Score table")
    saved = book.saved()

    expected = live_server.post(
        "/v1/predict/batch",
        json={"model": "forest", "columns": ["id", "duration", "amount", "age"], "rows": rows},
    ).json()
    positions = [expected["columns"].index(name) for name in RESULT_COLUMNS]
    sheet = saved["Batch"]
    got = [
        [cell.value for cell in row] for row in sheet.iter_rows(min_row=2, max_row=1002, max_col=8)
    ]
    assert got[1000] == [None] * 8  # nothing written below the table
    assert [row[0] for row in got[:1000]] == [row[0] for row in rows]  # ids untouched
    for index, (row, answer) in enumerate(zip(got, expected["rows"], strict=False)):
        probability, decision, error, warning = (answer[p] for p in positions)
        assert row[4] == (
            pytest.approx(probability, rel=1e-12) if probability is not None else None
        ), index
        assert row[5:8] == [decision, error, warning], index
    summary = expected["summary"]
    assert (summary["failed"], summary["warned"]) == (100, 20)  # 5 and 1 in every 50 rows
    assert named(saved, "BatchStatus") == "Done"
    assert named(saved, "BatchRows") == 1000
    assert named(saved, "BatchScored") == summary["scored"]
    assert named(saved, "BatchFailed") == summary["failed"]
    assert named(saved, "BatchWarned") == summary["warned"]
    assert named(saved, "BatchModel") == "forest"
    assert named(saved, "BatchHttpSeconds") > 0


def test_server_down_says_how_to_start_it(book_factory):
    url = f"http://127.0.0.1:{closed_port()}"
    book = book_factory(url)
    book.click("Score applicant")
    book.click("Test connection")
    book.click("Score table")
    saved = book.saved()

    for name in ("ResultStatus", "ConnectionStatus"):
        message = named(saved, name)
        assert message.startswith(f"Error: Cannot reach the CreditScorer server at {url}. "), name
        assert "'make serve'" in message
        assert "Settings!B3" in message
    batch = named(saved, "BatchStatus")
    assert batch.startswith("Error: Scoring stopped at rows 1-24 of 24")
    assert f"Cannot reach the CreditScorer server at {url}" in batch
    assert named(saved, "BatchScored") == 0


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_timeout_is_reported_with_the_setting_to_change(book_factory, silent_server):
    book = book_factory(silent_server)
    book.set(TimeoutSeconds=2)
    book.click("Score applicant", timeout=60)
    saved = book.saved()

    message = named(saved, "ResultStatus")
    assert message.startswith("Error: The server did not answer within 2 seconds")
    assert "Settings!B5" in message


def test_too_large_batch_suggests_a_smaller_batch_size(book_factory, server_factory):
    server = server_factory(env={"CREDITSCORER_MAX_BATCH_ROWS": "10"})
    book = book_factory(server.url)
    book.set(BatchSize=20)
    book.click("Score table")
    saved = book.saved()
    status = named(saved, "BatchStatus")
    assert "The request is too large for the server (413 " in status
    assert "Lower the batch size in Settings!B6 (now 20)" in status

    book.set(BatchSize=10)  # what the message says to do
    book.click("Score table")
    saved = book.saved()
    assert named(saved, "BatchStatus") == "Done"
    assert (named(saved, "BatchScored"), named(saved, "BatchFailed")) == (23, 1)


def _add_key(database_url: str) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "server", "keys", "add", "--name", "workbook-test"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "CREDITSCORER_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return created.stdout.strip().splitlines()[-1]


def test_wrong_key_points_to_the_key_cell(book_factory, server_factory, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    key = _add_key(database_url)
    server = server_factory(env={"CREDITSCORER_DATABASE_URL": database_url})
    book = book_factory(server.url)

    book.set(ApiKey="cs_000000000000_wrong")
    book.click("Score applicant")
    book.click("Test connection")
    saved = book.saved()
    for name in ("ResultStatus", "ConnectionStatus"):
        message = named(saved, name)
        assert message.startswith("Error: The server needs a valid API key (401 "), name
        assert "Settings!B4" in message
    assert named(saved, "ResultProbability") is None

    book.set(ApiKey=key)
    book.click("Score applicant")
    saved = book.saved()
    expected = requests.post(
        server.url + "/v1/predict",
        json={"model": "logistic", "duration": 24, "amount": 4000, "age": 35},
        headers={"X-API-Key": key},
        timeout=30,
    ).json()
    assert named(saved, "ResultStatus") == "OK"
    assert named(saved, "ResultProbability") == pytest.approx(
        expected["probability_default"], rel=1e-12
    )


def test_invalid_setting_is_named(book_factory):
    book = book_factory("localhost:5000")
    book.click("Score applicant")
    saved = book.saved()
    assert named(saved, "ResultStatus") == (
        "Error: Settings > API address must start with http:// or https://, "
        "e.g. http://127.0.0.1:5000."
    )


def test_request_files_are_private_and_deleted(book):
    """The curl files (the config holds the API key) live in a mode-700 folder of the
    session and are deleted after every request."""
    temp = Path(tempfile.gettempdir())
    before = set(temp.glob("creditscorer-*/request*"))
    folders = _request_folders()
    book.set(ApiKey="not-a-real-key")  # the open server ignores it
    book.click("Test connection")
    assert set(temp.glob("creditscorer-*/request*")) <= before
    (made,) = _request_folders() - folders
    assert made.stat().st_mode & 0o777 == 0o700
    assert named(book.saved(), "ConnectionStatus").startswith("OK: ")


def test_a_module_libreoffice_cannot_compile_disables_every_macro(office, tmp_path, live_server):
    """Why every test here checks values: pyOpenVBA's parser accepts this module (VBA
    allows a variable named `base`), LibreOffice does not, and then no macro runs at all,
    without an error. The test_workbook_build lint catches this case by name."""
    from excel.build import VBA_DIR, build

    vba_dir = tmp_path / "vba"
    shutil.copytree(VBA_DIR, vba_dir)
    (vba_dir / "Broken.bas").write_bytes(
        b'Attribute VB_Name = "Broken"\r\nOption Explicit\r\nOption Private Module\r\n\r\n'
        b"Public Function Twice(ByVal base As Long) As Long\r\n"
        b"    Twice = 2 * base\r\nEnd Function\r\n"
    )
    workbook = build(tmp_path / "broken.xlsm", vba_dir)  # passes the compile check
    book = Book(office, workbook)
    try:
        book.set(ApiUrl=live_server.url)
        book.click("Score applicant")
        book.click("Test connection")
        saved = book.saved()
    finally:
        office.close_doc(book.doc)
    assert named(saved, "ResultStatus") is None
    assert named(saved, "ConnectionStatus") is None


def test_a_macro_that_does_not_return_in_time_is_killed_with_its_soffice(tmp_path, silent_server):
    """Bounded waits: a call that outlives its timeout ends the driver and soffice."""
    available, reason = libreoffice_available()
    require_part(available, "libreoffice", reason)
    copy = tmp_path / "CreditScorer.xlsm"
    shutil.copyfile(WORKBOOK_PATH, copy)
    folders = _request_folders()
    office = LibreOffice()
    office.start()
    try:
        group = office._process.pid  # the driver leads the process group soffice is in
        doc = office.open(copy)
        office.set_cells(doc, {"ApiUrl": silent_server, "TimeoutSeconds": 60})
        with pytest.raises(LibreOfficeError, match="no answer from LibreOffice in 2 s"):
            office.run_macro(doc, "CreditScorerButtons.ScoreApplicant", timeout=2)
        deadline = time.monotonic() + 15  # killed at once; the orphans are reaped by init
        while time.monotonic() < deadline and _group_alive(group):
            time.sleep(0.2)
        assert not _group_alive(group)
    finally:
        office.close()
        for folder in _request_folders() - folders:  # the killed request's files
            shutil.rmtree(folder, ignore_errors=True)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
