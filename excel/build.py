"""Build excel/CreditScorer.xlsm from the VBA modules in excel/vba/ and the layout below.

Run ``python -m excel.build`` (or ``make workbook``). The modules in ``excel/vba/`` are the
source of truth; the workbook is what this script makes of them, byte for byte the same on
every run (fixed creation date, XlsxWriter's fixed zip dates), and a test checks that the
committed workbook is current.

The VBA project (``xl/vbaProject.bin``) is written by ``excel/vbaproject.py`` to the
letter of [MS-OVBA]: ``ThisWorkbook``, one document module per sheet named by the sheet's
code name (``DOCUMENTS``, the same names ``lay_out`` gives the sheets), and every module
of ``excel/vba/``. XlsxWriter writes the workbook around it. That module's docstring says
why pyOpenVBA's own project writer is no longer used.

Every module is parsed by ``pyopenvba.interpreter.parse_module`` first: a project writer
stores a broken module without complaint, and in LibreOffice one broken module silently disables
every macro of the workbook.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter
from pyopenvba.interpreter import parse_module

from excel.powerquery import write_powerquery_workbook
from excel.vbaproject import ProjectModule, module_code, vba_project_bin

EXCEL_DIR = Path(__file__).resolve().parent
VBA_DIR = EXCEL_DIR / "vba"
WORKBOOK_PATH = EXCEL_DIR / "CreditScorer.xlsm"
# The macro-free sibling (a Power Query instead of VBA), written next to the .xlsm.
POWERQUERY_WORKBOOK_NAME = "CreditScorer-PowerQuery.xlsx"
SAMPLE_DATA = EXCEL_DIR.parent / "training" / "data" / "german_credit.csv"

# A fixed creation date makes the build reproducible (XlsxWriter otherwise stamps "now").
CREATED = dt.datetime(2026, 1, 1, 0, 0, 0)
DEFAULT_API_URL = "http://127.0.0.1:5000"
MODELS = ("logistic", "forest")
BATCH_RESULT_COLUMNS = ("probability_default", "decision", "error", "warning")
SAMPLE_ROWS = 24

# What the cards of the seed models (logistic, forest) give: the Applicant sheet opens with
# the layout the macro CardLayout.LayOutApplicant writes for them, and the Batch sheet with
# their header row. This is data (a card's features and a sample applicant), not layout:
# the macros lay out any other model from the card the server sends.
SEED_FEATURES = (
    # name, label (the card's description), unit, accepted (as the macro words it), sample
    ("duration", "Duration of the credit", "months", "1 to 120, whole numbers", 24),
    ("amount", "Credit amount", "DM", "more than 0 to 1000000", 4000),
    ("age", "Age of the applicant", "years", "18 to 100, whole numbers", 35),
)
BATCH_INPUT_COLUMNS = ("id", *(feature[0] for feature in SEED_FEATURES))
# Same-sheet hidden columns of drop-down lists (CardLayout.bas: LIST_COLUMN_MODELS = 26).
MODEL_LIST_COLUMN = "Z"
SETTINGS_MODEL_LIST_COLUMN = "GR"  # column 200, CardLayout.bas: LIST_COLUMN_FAR

# Sheet name -> VBA code name. The modules refer to sheets only by these code names.
SHEETS = {
    "ReadMe": "shReadMe",
    "Applicant": "shApplicant",
    "Batch": "shBatch",
    "Settings": "shSettings",
    "UDF examples": "shUdfExamples",
    "xlwings.conf": "shXlwingsConf",
}
DOCUMENTS = ("ThisWorkbook", *SHEETS.values())

# Button caption -> (sheet, anchor cell, macro). Tests "click" each button through this.
BUTTONS = {
    "Score applicant": ("Applicant", "E2", "CreditScorerButtons.ScoreApplicant"),
    "Show inputs": ("Applicant", "D2", "CreditScorerButtons.ShowInputs"),
    "Refresh models": ("Applicant", "D4", "CreditScorerButtons.RefreshModels"),
    "Score table": ("Batch", "Y1", "CreditScorerButtons.ScoreTable"),
    "Prepare table": ("Batch", "Y3", "CreditScorerButtons.PrepareTable"),
    "Test connection": ("Settings", "E3", "CreditScorerButtons.TestConnection"),
}

# Workbook-scoped names of single cells: the VBA reads and writes the sheets through them.
NAMED_CELLS = {
    # Settings
    "ApiUrl": ("Settings", "B3"),
    "ApiKey": ("Settings", "B4"),
    "TimeoutSeconds": ("Settings", "B5"),
    "BatchSize": ("Settings", "B6"),
    "DefaultModel": ("Settings", "B7"),
    "ConnectionStatus": ("Settings", "B10"),
    "ConnectionModels": ("Settings", "B11"),
    # Applicant: the chosen model, the model the inputs are laid out for, and the header
    # row of the inputs (one row per feature below it: label, value, unit, accepted, name)
    "InputModel": ("Applicant", "B3"),
    "InputsModel": ("Applicant", "B4"),
    "InputsHeader": ("Applicant", "A6"),
    # Applicant results (columns G/H, beside the inputs however many there are)
    "ResultStatus": ("Applicant", "H7"),
    "ResultProbability": ("Applicant", "H8"),
    "ResultDecision": ("Applicant", "H9"),
    "ResultThreshold": ("Applicant", "H10"),
    "ResultModel": ("Applicant", "H11"),
    "ResultModelVersion": ("Applicant", "H12"),
    "ResultWarnings": ("Applicant", "H13"),
    "ResultRequestId": ("Applicant", "H14"),
    "ResultJson": ("Applicant", "H15"),
    "ResultReasons": ("Applicant", "G18"),
    # Batch summary (columns Y/Z, right of a full-attribute model's table of 23 columns)
    "BatchStatus": ("Batch", "Z6"),
    "BatchRows": ("Batch", "Z7"),
    "BatchScored": ("Batch", "Z8"),
    "BatchFailed": ("Batch", "Z9"),
    "BatchWarned": ("Batch", "Z10"),
    "BatchSeconds": ("Batch", "Z11"),
    "BatchJsonSeconds": ("Batch", "Z12"),
    "BatchHttpSeconds": ("Batch", "Z13"),
    "BatchWriteSeconds": ("Batch", "Z14"),
    "BatchModel": ("Batch", "Z15"),
}
INPUT_ROWS = 120  # CardLayout.bas: CARD_MAX_FEATURES, rows the layout and the reasons use

README_LINES = (
    ("CreditScorer workbook", "title"),
    ("", None),
    ("What it does", "heading"),
    (
        "Scores credit applicants with the CreditScorer HTTP API (a scikit-learn model served "
        "on your machine or your network) and writes the probability of default, the decision "
        "and the reasons into this workbook.",
        None,
    ),
    (
        "- Applicant: pick a model ('Refresh models' asks the server which ones it serves), "
        "press 'Show inputs' to lay out that model's inputs from its card (one row per "
        "feature, a drop-down for each category), fill them in, press 'Score applicant'.",
        None,
    ),
    (
        "- Batch: choose the model in Settings > Default model, press 'Prepare table' for its "
        "header row, paste your own rows under the headers (category codes or labels) and "
        "press 'Score table'. Each row gets probability_default, decision, and an error if it is "
        "invalid; the other rows are still scored.",
        None,
    ),
    (
        "- Settings: the API address, the API key, the timeout, the batch size and the default "
        "model. 'Test connection' asks the server which models it serves.",
        None,
    ),
    ("", None),
    ("Start the server", "heading"),
    (
        "In the project folder: 'make serve' (or 'python -m server'). It listens on "
        "http://127.0.0.1:5000, the address in Settings.",
        None,
    ),
    ("", None),
    ("Macros are blocked? (Mark of the Web)", "heading"),
    (
        "Windows Office blocks macros in files downloaded from the internet. Close Excel, "
        "right-click CreditScorer.xlsm, Properties, tick 'Unblock', OK - or open it from a "
        "Trusted Location (File, Options, Trust Center, Trust Center Settings, Trusted "
        "Locations).",
        None,
    ),
    ("", None),
    ("Platforms", "heading"),
    (
        "Windows Excel sends requests with WinHttp; Mac Excel and LibreOffice run curl. "
        "LibreOffice on Linux is what the project's tests run.",
        None,
    ),
)

_EMPTY_DOCUMENT_MODULE = "Option Explicit\r\n"


@dataclass(frozen=True)
class VbaModule:
    """One module of excel/vba/: its name, kind and source text (CRLF, as exported)."""

    name: str
    source: str
    is_class: bool


class ModuleCompileError(ValueError):
    """A module in excel/vba/ does not parse as VBA."""


def read_modules(vba_dir: Path = VBA_DIR) -> list[VbaModule]:
    """Read every ``*.bas`` and ``*.cls`` of ``vba_dir``, in name order."""
    modules = []
    for path in sorted(vba_dir.iterdir()):
        if path.suffix.lower() not in (".bas", ".cls"):
            continue
        source = path.read_bytes().decode("utf-8")
        modules.append(VbaModule(path.stem, source, is_class=path.suffix.lower() == ".cls"))
    if not modules:
        raise FileNotFoundError(f"no *.bas or *.cls modules in {vba_dir}")
    return modules


def compile_check(modules: list[VbaModule]) -> None:
    """Parse every module; raise ModuleCompileError naming each one that is not valid VBA."""
    failures = []
    for module in modules:
        kind = "class" if module.is_class else "standard"
        try:
            parse_module(_without_class_preamble(module.source), name=module.name, kind=kind)
        except Exception as exc:
            failures.append(f"{module.name}: {exc}")
    if failures:
        raise ModuleCompileError("VBA modules do not compile:\n" + "\n".join(failures))


def _without_class_preamble(source: str) -> str:
    """A ``.cls`` file as the VBA editor exports it starts ``VERSION 1.0 CLASS`` / ``BEGIN``
    ... ``END``: file syntax, not VBA, so the parser gets the module without it (the line
    count is kept so that error messages point at the right line)."""
    lines = source.split("\r\n")
    if not lines or not lines[0].upper().startswith("VERSION "):
        return source
    for index, line in enumerate(lines):
        if line.strip().upper() == "END":
            return "\r\n".join([""] * (index + 1) + lines[index + 1 :])
    return source


def _sample_rows(count: int = SAMPLE_ROWS) -> list[list[object]]:
    """The first rows of the training data as a sample batch table, one of them invalid."""
    rows: list[list[object]] = []
    with SAMPLE_DATA.open(newline="", encoding="utf-8") as handle:
        for index, record in enumerate(csv.DictReader(handle), start=1):
            rows.append(
                [f"S-{index:03d}", *(int(record[name]) for name in BATCH_INPUT_COLUMNS[1:])]
            )
            if len(rows) == count:
                break
    # One row a user could plausibly type, which the API rejects: it shows the error column.
    rows[5][BATCH_INPUT_COLUMNS.index("age")] = 17
    return rows


LayoutHook = Callable[[xlsxwriter.Workbook, dict], None]


def lay_out(workbook: xlsxwriter.Workbook, extra_sheets: tuple[LayoutHook, ...] = ()) -> None:
    """Write every sheet, name, validation, table and button. Used by both build passes."""
    workbook.set_properties({"title": "CreditScorer", "author": "CreditScorer", "created": CREATED})
    workbook.set_vba_name("ThisWorkbook")
    fmt = {
        "title": workbook.add_format({"bold": True, "font_size": 16}),
        "heading": workbook.add_format({"bold": True, "font_size": 12}),
        "label": workbook.add_format({"bold": True}),
        "input": workbook.add_format({"bg_color": "#FFF2CC", "border": 1}),
        "output": workbook.add_format({"bg_color": "#E2EFDA", "border": 1}),
        "prob": workbook.add_format({"bg_color": "#E2EFDA", "border": 1, "num_format": "0.0000"}),
        "wrap": workbook.add_format({"text_wrap": True, "valign": "top"}),
        "note": workbook.add_format({"italic": True, "font_color": "#595959"}),
        "header": workbook.add_format({"bold": True, "bottom": 1}),
    }
    fmt["signed"] = workbook.add_format({"num_format": "+0.0000;-0.0000;0.0000"})
    sheets = {}
    for name, code_name in SHEETS.items():
        sheet = workbook.add_worksheet(name)
        sheet.set_vba_name(code_name)
        sheet.set_default_row(15)  # even rows in LibreOffice too
        sheets[name] = sheet

    _lay_out_readme(sheets["ReadMe"], fmt)
    _lay_out_applicant(sheets["Applicant"], fmt)
    _lay_out_batch(workbook, sheets["Batch"], fmt)
    _lay_out_settings(sheets["Settings"], fmt)
    _lay_out_udf_examples(sheets["UDF examples"], fmt)
    _lay_out_xlwings_conf(sheets["xlwings.conf"])
    for hook in extra_sheets:
        hook(workbook, sheets)

    for name, (sheet, cell) in NAMED_CELLS.items():
        row, col = xlsxwriter.utility.xl_cell_to_rowcol(cell)
        absolute = xlsxwriter.utility.xl_rowcol_to_cell(row, col, row_abs=True, col_abs=True)
        workbook.define_name(name, f"='{sheet}'!{absolute}")
    for caption, (sheet, cell, macro) in BUTTONS.items():
        sheets[sheet].insert_button(
            cell, {"macro": macro, "caption": caption, "width": 150, "height": 30}
        )
    sheets["Applicant"].activate()


def _lay_out_readme(sheet, fmt) -> None:
    sheet.set_column("A:A", 110, fmt["wrap"])
    for row, (text, style) in enumerate(README_LINES):
        sheet.write_string(row, 0, text, fmt[style] if style else fmt["wrap"])


def _lay_out_applicant(sheet, fmt) -> None:
    sheet.set_column("A:A", 30)
    sheet.set_column("B:B", 40)
    sheet.set_column("C:C", 9)
    sheet.set_column("D:D", 26)
    sheet.set_column("E:E", 22)
    sheet.set_column("F:F", 3)
    sheet.set_column("G:G", 22)
    sheet.set_column("H:H", 30)
    sheet.set_column(f"{MODEL_LIST_COLUMN}:EZ", None, None, {"hidden": True})
    sheet.write_string("A1", "Score one applicant", fmt["title"])
    sheet.write_string("A3", "Model", fmt["label"])
    sheet.write_string("B3", MODELS[0], fmt["input"])
    sheet.write_string("A4", "Inputs laid out for", fmt["note"])
    sheet.write_string("B4", MODELS[0], fmt["note"])
    sheet.write_column(f"{MODEL_LIST_COLUMN}1", ("models", *MODELS))
    sheet.data_validation(
        "B3",
        {
            "validate": "list",
            "source": f"=${MODEL_LIST_COLUMN}$2:${MODEL_LIST_COLUMN}${1 + len(MODELS)}",
            "error_type": "warning",
            "error_title": "Model",
            "error_message": "Not a model of the list: press 'Refresh models'.",
        },
    )
    for col, title in enumerate(("Input", "Value", "Unit", "Accepted", "Field")):
        sheet.write_string(5, col, title, fmt["header"])
    for row, (name, label, unit, accepted, value) in enumerate(SEED_FEATURES, start=6):
        sheet.write_string(row, 0, label, fmt["label"])
        sheet.write_number(row, 1, value, fmt["input"])
        sheet.write_string(row, 2, unit)
        sheet.write_string(row, 3, accepted, fmt["note"])
        sheet.write_string(row, 4, name, fmt["note"])
    sheet.write_string("G6", "Result", fmt["header"])
    sheet.write_blank("H6", None, fmt["header"])
    labels = (
        "Status",
        "Probability of default",
        "Decision",
        "Threshold",
        "Model",
        "Model version",
        "Warnings",
        "Request id",
        "Raw reply (JSON)",
    )
    for row, label in enumerate(labels, start=6):
        sheet.write_string(row, 6, label, fmt["label"])
        sheet.write_blank(row, 7, None, fmt["prob"] if row in (7, 9) else fmt["output"])
    sheet.write_string("G17", "Reasons", fmt["header"])
    sheet.write_string("H17", "contribution to P(default)", fmt["header"])
    for row in range(17, 17 + INPUT_ROWS):
        sheet.write_blank(row, 7, None, fmt["signed"])


def _lay_out_batch(workbook, sheet, fmt) -> None:
    sheet.set_column("A:A", 12)
    sheet.set_column("B:D", 11)
    sheet.set_column("E:E", 19, workbook.add_format({"num_format": "0.0000"}))
    sheet.set_column("F:F", 10)
    sheet.set_column("G:H", 34)
    sheet.set_column("I:W", 11)
    sheet.set_column("X:X", 3)
    sheet.set_column("Y:Y", 22)
    sheet.set_column("Z:Z", 30)
    sheet.set_column("GR:KZ", None, None, {"hidden": True})  # CardLayout's category lists
    rows = _sample_rows()
    header = list(BATCH_INPUT_COLUMNS) + list(BATCH_RESULT_COLUMNS)
    data = [row + [None] * len(BATCH_RESULT_COLUMNS) for row in rows]
    sheet.add_table(
        0,
        0,
        len(rows),
        len(header) - 1,
        {
            "name": "Applicants",
            "data": data,
            "style": "Table Style Light 9",
            "columns": [{"header": name} for name in header],
        },
    )
    sheet.write_string(
        "AA1", "'Prepare table' writes the header row of Settings > Default model;", fmt["note"]
    )
    sheet.write_string("AA2", "paste your rows under it, then press 'Score table'.", fmt["note"])
    sheet.write_string("AA3", "Row S-006 is invalid on purpose.", fmt["note"])
    labels = (
        "Status",
        "Rows",
        "Scored",
        "Failed",
        "Warned",
        "Seconds (total)",
        "  of which JSON",
        "  of which HTTP",
        "  of which writing",
        "Model",
    )
    for offset, label in enumerate(labels):
        sheet.write_string(5 + offset, 24, label, fmt["label"])
        sheet.write_blank(5 + offset, 25, None, fmt["output"])


def _lay_out_settings(sheet, fmt) -> None:
    sheet.set_column("A:A", 18)
    sheet.set_column("B:B", 34)
    sheet.set_column("H:H", 58)
    sheet.set_column("C:C", 4)
    sheet.set_column("D:D", 2)
    sheet.write_string("A1", "Settings", fmt["title"])
    sheet.write_string("C1", "")
    rows = (
        ("API address", DEFAULT_API_URL, "Where the CreditScorer server listens."),
        ("API key", "", "Leave empty if the server has no keys (the local default)."),
        ("Timeout (s)", 30, "How long to wait for one request."),
        ("Batch size", 1000, "Rows per request; lower it if the server answers 413."),
        ("Default model", "logistic", "Used by the Batch sheet."),
    )
    sheet.write_string("A2", "Setting", fmt["header"])
    sheet.write_string("B2", "Value", fmt["header"])
    for row, (label, value, note) in enumerate(rows, start=2):
        sheet.write_string(row, 0, label, fmt["label"])
        # write_string, not write: XlsxWriter makes a hyperlink of a text like a URL, and
        # the address is a setting to edit, not a link to follow.
        if value == "":
            sheet.write_blank(row, 1, None, fmt["input"])
        elif isinstance(value, str):
            sheet.write_string(row, 1, value, fmt["input"])
        else:
            sheet.write_number(row, 1, value, fmt["input"])
        sheet.write_string(row, 7, note, fmt["note"])
    sheet.write_string("H2", "Notes", fmt["header"])
    column = SETTINGS_MODEL_LIST_COLUMN
    sheet.write_column(f"{column}1", ("models", *MODELS))
    sheet.set_column(
        f"{SETTINGS_MODEL_LIST_COLUMN}:{SETTINGS_MODEL_LIST_COLUMN}", None, None, {"hidden": True}
    )
    sheet.data_validation(
        "B7",
        {
            "validate": "list",
            "source": f"=${column}$2:${column}${1 + len(MODELS)}",
            "error_type": "warning",
        },
    )
    sheet.data_validation(
        "B5", {"validate": "integer", "criteria": "between", "minimum": 1, "maximum": 600}
    )
    sheet.data_validation(
        "B6", {"validate": "integer", "criteria": "between", "minimum": 1, "maximum": 100000}
    )
    sheet.write_string("A9", "Connection", fmt["heading"])
    sheet.write_string("A10", "Status", fmt["label"])
    sheet.write_string("A11", "Models", fmt["label"])
    sheet.write_blank("B10", None, fmt["output"])
    sheet.write_blank("B11", None, fmt["output"])


def _lay_out_udf_examples(sheet, fmt) -> None:
    """Worksheet functions from the xlwings add-in (issue 4); errors without xlwings."""
    sheet.set_column("A:A", 10)
    sheet.set_column("B:D", 11)
    sheet.set_column("E:I", 22)
    sheet.write_string(
        "A1", "Worksheet functions (need the xlwings add-in, see README)", fmt["title"]
    )
    header = (
        "id",
        "duration",
        "amount",
        "age",
        "CREDIT_SCORE",
        "CREDIT_DECISION",
        "CREDIT_REASONS",
    )
    for col, name in enumerate(header):
        sheet.write_string(2, col, name, fmt["header"])
    applicants = (("U-1", 24, 4000, 35), ("U-2", 6, 1169, 67), ("U-3", 48, 5951, 22))
    needs = "needs xlwings"
    for offset, (ident, duration, amount, age) in enumerate(applicants):
        row = 3 + offset
        excel_row = row + 1
        sheet.write_row(row, 0, (ident, duration, amount, age))
        sheet.write_formula(
            row, 4, f'=CREDIT_SCORE(B{excel_row},C{excel_row},D{excel_row},"forest")', None, needs
        )
        sheet.write_formula(
            row,
            5,
            f'=CREDIT_DECISION(B{excel_row},C{excel_row},D{excel_row},"forest")',
            None,
            needs,
        )
        # A row of three contributions: saved as a dynamic array so that Excel spills it
        # into G:I instead of showing only the first value behind an implicit "@".
        sheet.write_dynamic_array_formula(
            row,
            6,
            row,
            6,
            f'=CREDIT_REASONS(B{excel_row},C{excel_row},D{excel_row},"forest")',
            None,
            needs,
        )
    sheet.write_string("A8", "A whole table in one request (spills):", fmt["label"])
    sheet.write_dynamic_array_formula("A9:A9", '=CREDIT_SCORE_TABLE(A3:D6,"forest")', None, needs)
    sheet.write_string("E8", "Models on the server (spills):", fmt["label"])
    sheet.write_dynamic_array_formula("E9:E9", "=CREDIT_MODELS()", None, needs)


def _lay_out_xlwings_conf(sheet) -> None:
    """xlwings reads its settings from a sheet of this name: keys in A, values in B."""
    sheet.set_column("A:A", 26)
    sheet.set_column("B:B", 30)
    sheet.write_string("A1", "UDF Modules")
    sheet.write_string("B1", "excel.udfs")
    sheet.write_string("A2", "CREDITSCORER_API_URL")
    sheet.write_string("B2", DEFAULT_API_URL)
    sheet.write_string("A3", "CREDITSCORER_API_KEY")
    sheet.write_blank("B3", None)


def _write_workbook(path: Path, vba_bin: bytes | None) -> None:
    workbook = xlsxwriter.Workbook(str(path))
    lay_out(workbook)
    if vba_bin is not None:
        workbook.add_vba_project(io.BytesIO(vba_bin), is_stream=True)
    workbook.close()


def project_modules(modules: list[VbaModule]) -> list[ProjectModule]:
    """The modules of the VBA project: ThisWorkbook and one document module per sheet (by
    code name, in sheet order), then the modules of ``excel/vba/``."""
    documents = [ProjectModule(name, "document", _EMPTY_DOCUMENT_MODULE) for name in DOCUMENTS]
    return documents + [
        ProjectModule(m.name, "class" if m.is_class else "standard", module_code(m.source))
        for m in modules
    ]


def make_vba_project(modules: list[VbaModule]) -> bytes:
    """The ``vbaProject.bin`` of the workbook, written by excel/vbaproject.py."""
    return vba_project_bin(project_modules(modules))


def build(out: Path = WORKBOOK_PATH, vba_dir: Path = VBA_DIR) -> Path:
    """Compile-check the modules of ``vba_dir``, write the workbook to ``out`` and its
    macro-free sibling (``POWERQUERY_WORKBOOK_NAME``) next to it."""
    modules = read_modules(vba_dir)
    compile_check(modules)
    with tempfile.TemporaryDirectory(prefix="workbook-build-") as tmp:
        vba_bin = make_vba_project(modules)
        staged = Path(tmp) / "final.xlsm"
        _write_workbook(staged, vba_bin)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(staged.read_bytes())
    write_powerquery_workbook(
        out.parent / POWERQUERY_WORKBOOK_NAME,
        _sample_rows(),
        BATCH_INPUT_COLUMNS,
        {"created": CREATED, "api_url": DEFAULT_API_URL, "model": MODELS[0]},
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: build the workbook (default: excel/CreditScorer.xlsm)."""
    parser = argparse.ArgumentParser(prog="python -m excel.build", description=__doc__)
    parser.add_argument("--out", type=Path, default=WORKBOOK_PATH, help="where to write")
    parser.add_argument("--vba-dir", type=Path, default=VBA_DIR, help="modules to build from")
    args = parser.parse_args(argv)
    try:
        path = build(args.out, args.vba_dir)
    except ModuleCompileError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
