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
from openpyxl.utils import get_column_letter
from support import PROJECT_ROOT, require_part
from workbook_support import BUTTONS, NAMED_CELLS, WORKBOOK_PATH

from devtools.lo_driver import (
    LibreOffice,
    LibreOfficeError,
    libreoffice_available,
    removing_new_request_folders,
    request_folders,
)

pytestmark = [pytest.mark.libreoffice, pytest.mark.slow]

RESULT_COLUMNS = ("probability_default", "decision", "error", "warning")
INPUT_TOP = 7  # the first Applicant input row, under the header at InputsHeader (A6)
REASONS_TOP = 18  # ResultReasons (G18): feature in G, contribution in H


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

    def inputs(self) -> list[list]:
        """The Applicant input rows: label, value, unit, accepted, field name."""
        rows = self.office.get_range(self.doc, "Applicant", f"A{INPUT_TOP}:E{INPUT_TOP + 119}")
        return [row for row in rows if row[4]]

    def set_inputs(self, values: dict) -> None:
        """Type values into the Applicant rows of the given field names."""
        rows = {row[4]: INPUT_TOP + index for index, row in enumerate(self.inputs())}
        self.set(**{f"Applicant!B{rows[name]}": value for name, value in values.items()})

    def saved(self) -> openpyxl.Workbook:
        """Save a copy and read it with openpyxl (values, not formulas)."""
        copy = self.path.with_name(f"saved-{len(list(self.path.parent.iterdir()))}.xlsm")
        self.office.save_copy(self.doc, copy)
        return openpyxl.load_workbook(copy, data_only=True)


def named(workbook: openpyxl.Workbook, name: str):
    sheet, cell = NAMED_CELLS[name]
    return workbook[sheet][cell].value


@pytest.fixture
def book_factory(office, tmp_path) -> Iterator:
    opened: list[Book] = []

    def factory(api_url: str) -> Book:
        path = tmp_path / f"book-{len(opened)}" / "CreditScorer.xlsm"
        path.parent.mkdir()
        shutil.copyfile(WORKBOOK_PATH, path)
        book = Book(office, path)
        book.set(ApiUrl=api_url)
        opened.append(book)
        return book

    with removing_new_request_folders():
        yield factory
        for book in opened:
            office.close_doc(book.doc)


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
    assert book.bound == {caption: macro for caption, (_, _, macro) in BUTTONS.items()}
    assert book.bound["Prepare table"] == "CreditScorerButtons.PrepareTable"


@pytest.mark.parametrize(
    ("model", "duration", "amount", "age"),
    [("logistic", 24, 4000.5, 35), ("forest", 24, 4000.5, 35), ("forest", 80, 1234, 19)],
)
def test_score_applicant_writes_the_apis_answer(book, live_server, model, duration, amount, age):
    book.set(InputModel=model)
    book.set_inputs({"duration": duration, "amount": amount, "age": age})
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
    reasons = [(sheet.cell(r, 7).value, sheet.cell(r, 8).value) for r in range(18, 24)]
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
    book.set(InputModel="forest")
    book.set_inputs({"duration": 0, "amount": "abc", "age": 17})
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
    folders = request_folders()
    book.set(ApiKey="not-a-real-key")  # the open server ignores it
    book.click("Test connection")
    assert set(temp.glob("creditscorer-*/request*")) <= before
    (made,) = request_folders() - folders
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
    folders = request_folders()
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
        for folder in request_folders() - folders:  # the killed request's files
            shutil.rmtree(folder, ignore_errors=True)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------------------
# Any model: the card decides the Applicant inputs and the Batch header
# --------------------------------------------------------------------------------------


def _card(server, model: str) -> dict:
    return server.get(f"/v1/models/{model}").json()


def _accepted_text(accepted: dict, kind: str) -> str:
    """The note the layout writes for a numeric feature's accepted range."""
    low, high = (repr(accepted[key]).removesuffix(".0") for key in ("min", "max"))
    low = f"more than {low}" if accepted.get("min_exclusive") else low
    high = f"less than {high}" if accepted.get("max_exclusive") else high
    return f"{low} to {high}" + (", whole numbers" if kind == "integer" else "")


def _label_of(feature: dict, code: str) -> str:
    return next(c["label"] for c in feature["categories"] if c["code"] == code)


def _drop_downs(saved: openpyxl.Workbook, sheet_name: str) -> dict[str, list]:
    """Cell (or range) -> the items of its list validation, read from the saved copy."""
    sheet = saved[sheet_name]
    found = {}
    for validation in sheet.data_validations.dataValidation:
        if validation.type != "list" or not validation.formula1.startswith("$"):
            continue
        items = [cell.value for (cell,) in sheet[validation.formula1.replace("$", "")]]
        for cells in str(validation.sqref).split():
            found[cells] = items
    return found


def _training_records() -> list[dict]:
    with (PROJECT_ROOT / "training" / "data" / "german_credit.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_full_model_applicant_is_laid_out_from_its_card_and_scores_labels(book, live_server):
    book.click("Refresh models")
    served = [m["name"] for m in live_server.get("/v1/models").json()["models"]]
    assert "logistic_full" in served
    assert book.office.get_cells(book.doc, ["ResultStatus"])["ResultStatus"] == (
        f"Models: {', '.join(served)}."
    )
    book.set(InputModel="logistic_full")
    book.click("Show inputs")

    card = _card(live_server, "logistic_full")
    features = card["features"]
    rows = book.inputs()
    assert [row[4] for row in rows] == [f["name"] for f in features]
    assert [row[0] for row in rows] == [f.get("label") or f["name"] for f in features]
    assert [row[2] for row in rows] == [f.get("unit", "") for f in features]
    for row, feature in zip(rows, features, strict=True):
        if feature["type"] == "category":
            assert row[3] == f"one of {len(feature['categories'])} (pick from the list)"
        else:
            assert row[3] == _accepted_text(feature["accepted"], feature["type"]), row
    # Values typed for the seed model's fields of the same name stayed.
    kept = {row[4]: row[1] for row in rows if row[4] in ("duration", "amount", "age")}
    assert kept == {"duration": 24, "amount": 4000, "age": 35}

    record = _training_records()[1]
    typed, sent = {}, {}
    for feature in features:
        name = feature["name"]
        if feature["type"] == "category":
            typed[name] = _label_of(feature, record[name])  # picked by label
        else:
            typed[name] = int(record[name])
        sent[name] = record[name] if feature["type"] == "category" else int(record[name])
    book.set_inputs(typed)
    book.click("Score applicant")
    saved = book.saved()

    lists = _drop_downs(saved, "Applicant")
    for index, feature in enumerate(features):
        cell = f"B{INPUT_TOP + index}"
        if feature["type"] == "category":
            assert lists[cell] == [c["label"] for c in feature["categories"]], cell
        else:
            assert cell not in lists
    expected = live_server.post("/v1/predict", json={"model": "logistic_full", **sent}).json()
    assert named(saved, "ResultStatus") == "OK"
    assert named(saved, "ResultProbability") == pytest.approx(
        expected["probability_default"], rel=1e-12
    )
    assert named(saved, "ResultDecision") == expected["decision"]
    assert named(saved, "ResultWarnings") == ("; ".join(expected["warnings"]) or None)
    sheet = saved["Applicant"]
    reasons = [
        (sheet.cell(r, 7).value, sheet.cell(r, 8).value)
        for r in range(REASONS_TOP, REASONS_TOP + len(features) + 2)
    ]
    assert [r for r in reasons if r[0] is not None] == [
        (reason["feature"], pytest.approx(reason["contribution"], rel=1e-9, abs=1e-15))
        for reason in expected["reasons"]
    ]
    assert len(expected["reasons"]) == len(features)

    # Back to a seed model: its three inputs, with the values typed for the full model.
    book.set(InputModel="forest")
    book.click("Show inputs")
    assert [(row[4], row[1]) for row in book.inputs()] == [
        (name, typed[name]) for name in ("duration", "amount", "age")
    ]


def _full_rows(features: list[dict], count: int) -> tuple[list[list], list[list]]:
    """(typed, sent): the table as typed (labels in even rows, codes in odd ones, bad
    categories in some rows) and the same values as the API gets them from a client."""
    records = _training_records()
    typed = []
    for index in range(count):
        record = records[index % len(records)]
        row: list = [f"F-{index:04d}"]
        for feature in features:
            value = record[feature["name"]]
            if feature["type"] != "category":
                row.append(int(value))
            elif index % 2 == 0:
                row.append(_label_of(feature, value))
            else:
                row.append(value)
        typed.append(row)
    categories = [i for i, f in enumerate(features, start=1) if f["type"] == "category"]
    for index in range(0, count, 50):
        typed[index + 7][categories[0]] = "A19"  # no such code
        typed[index + 13][categories[-1]] = "not a label"
        typed[index + 29][categories[1]] = 3  # a number, read as the text "3": no such code
    return typed, typed


def test_full_model_batch_of_1000_rows_with_bad_categories(book, live_server):
    card = _card(live_server, "logistic_full")
    features = card["features"]
    book.set(BatchSize=400, DefaultModel="logistic_full")
    book.click("Prepare table")
    width = len(features) + 1 + len(RESULT_COLUMNS)
    header = book.office.get_range(book.doc, "Batch", f"A1:{get_column_letter(width + 1)}1")[0]
    assert header == ["id", *(f["name"] for f in features), *RESULT_COLUMNS, ""]
    # The sample rows kept their id and the seed features, matched by name.
    sample = book.office.get_range(
        book.doc, "Batch", f"A2:{get_column_letter(len(features) + 1)}2"
    )[0]
    assert sample[0] == "S-001"
    assert sample[1 + [f["name"] for f in features].index("duration")] == 6

    rows, sent = _full_rows(features, 1000)
    book.office.clear_range(book.doc, "Batch", f"A2:{get_column_letter(width)}100")
    book.office.set_range(book.doc, "Batch", "A2", rows)
    book.click("Score table")
    saved = book.saved()

    expected = live_server.post(
        "/v1/predict/batch",
        json={
            "model": "logistic_full",
            "columns": ["id", *(f["name"] for f in features)],
            "rows": sent,
        },
    ).json()
    positions = [expected["columns"].index(name) for name in RESULT_COLUMNS]
    first = len(features) + 2
    got = [
        [cell.value for cell in row]
        for row in saved["Batch"].iter_rows(
            min_row=2, max_row=1002, min_col=first, max_col=first + 3
        )
    ]
    assert got[1000] == [None] * 4
    for index, (row, answer) in enumerate(zip(got, expected["rows"], strict=False)):
        probability, decision, error, warning = (answer[p] for p in positions)
        assert row[0] == (
            pytest.approx(probability, rel=1e-12) if probability is not None else None
        ), index
        assert row[1:] == [decision, error, warning], index
    failed = [i for i, answer in enumerate(expected["rows"]) if answer[positions[2]]]
    assert len(failed) == 60
    assert "must be one of" in got[7][2]
    assert "A19" in got[7][2]
    assert named(saved, "BatchStatus") == "Done"
    assert named(saved, "BatchFailed") == 60
    assert named(saved, "BatchModel") == "logistic_full"


def _synthetic_data(path: Path, count: int = 400) -> None:
    """A data set with features no code of the project has ever seen."""
    import random

    rng = random.Random(7)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kiln_hours", "glaze_tint", "zeta_ratio", "outcome"])
        for _ in range(count):
            hours = rng.randint(1, 60)
            tint = rng.choice(["amber", "cobalt", "jade"])
            ratio = round(rng.uniform(0.1, 9.9), 2)
            risk = 0.02 * hours + (0.8 if tint == "cobalt" else 0.0) - 0.1 * ratio
            writer.writerow([hours, tint, ratio, int(rng.random() < 1 / (1 + 2.7**-risk))])


def test_a_model_fitted_on_unseen_features_scores_without_rebuilding(
    book_factory, server_factory, tmp_path
):
    data = tmp_path / "kiln.csv"
    _synthetic_data(data)
    store = tmp_path / "store"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "fit",
            "--data",
            str(data),
            "--target",
            "outcome",
            "--name",
            "kiln",
            "--model-dir",
            str(store),
            "--quick",
        ],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    server = server_factory(env={"CREDITSCORER_MODEL_DIR": str(store)})
    book = book_factory(server.url)  # the committed workbook, as shipped
    book.set(InputModel="kiln")
    book.click("Refresh models")
    card = requests.get(server.url + "/v1/models/kiln", timeout=30).json()
    features = card["features"]
    assert [row[4] for row in book.inputs()] == [f["name"] for f in features]
    values = {"kiln_hours": 30, "glaze_tint": "cobalt", "zeta_ratio": 2.5}
    book.set_inputs(values)
    book.click("Score applicant")
    expected = requests.post(
        server.url + "/v1/predict", json={"model": "kiln", **values}, timeout=30
    ).json()

    book.set(DefaultModel="kiln")
    book.click("Prepare table")
    names = [f["name"] for f in features]
    rows = [
        [
            f"K-{i}",
            *(
                {
                    "kiln_hours": 1 + i % 60,
                    "glaze_tint": ["amber", "Jade", "teal"][i % 3],
                    "zeta_ratio": 0.5 + i % 9,
                }[n]
                for n in names
            ),
        ]
        for i in range(60)
    ]
    book.office.clear_range(book.doc, "Batch", "A2:H100")
    book.office.set_range(book.doc, "Batch", "A2", rows)
    book.click("Score table")
    saved = book.saved()

    assert named(saved, "ResultStatus") == "OK"
    assert named(saved, "ResultProbability") == pytest.approx(
        expected["probability_default"], rel=1e-12
    )
    batch = requests.post(
        server.url + "/v1/predict/batch",
        json={"model": "kiln", "columns": ["id", *names], "rows": rows},
        timeout=30,
    ).json()
    positions = [batch["columns"].index(name) for name in RESULT_COLUMNS]
    first = len(names) + 2
    got = [
        [cell.value for cell in row]
        for row in saved["Batch"].iter_rows(min_row=2, max_row=61, min_col=first, max_col=first + 3)
    ]
    for index, (row, answer) in enumerate(zip(got, batch["rows"], strict=True)):
        probability, decision, error, warning = (answer[p] for p in positions)
        assert row[0] == (
            pytest.approx(probability, rel=1e-12) if probability is not None else None
        ), index
        assert row[1:] == [decision, error, warning], index
    assert named(saved, "BatchFailed") == 20  # "teal" is no tint of the data
