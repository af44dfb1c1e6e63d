"""What the committed workbook holds, read back by tools other than the one that wrote it."""

from __future__ import annotations

import re
import warnings

import openpyxl
import pytest
from workbook_support import (
    BUTTONS,
    NAMED_CELLS,
    SHEETS,
    WORKBOOK_PATH,
    public_subs,
    source_modules,
    vml_buttons,
)

DOCUMENT_MODULES = {"ThisWorkbook", *SHEETS.values()}


def _body(source: str) -> str:
    """A module without its export preamble and Attribute lines, as olevba and the VBE agree."""
    lines = source.replace("\r\n", "\n").split("\n")
    if lines and lines[0].startswith("VERSION "):
        lines = lines[lines.index("END") + 1 :]
    return "\n".join(line for line in lines if not line.startswith("Attribute ")).strip("\n")


@pytest.fixture(scope="module")
def stored_modules() -> dict[str, str]:
    # oletools calls pyparsing APIs that warn of their deprecation (not our code's concern).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from oletools.olevba import VBA_Parser

        parser = VBA_Parser(str(WORKBOOK_PATH))
        try:
            return {name.rsplit(".", 1)[0]: code for _, _, name, code in parser.extract_macros()}
        finally:
            parser.close()


@pytest.fixture(scope="module")
def workbook():
    book = openpyxl.load_workbook(WORKBOOK_PATH, keep_vba=True)
    yield book
    # keep_vba copies the VBA parts into an in-memory zip opened for writing and never
    # closes it; left to the garbage collector, its close fails on the already-freed
    # buffer and pytest reports that in whichever later test the collector happens to run.
    book.vba_archive.close()


def test_olevba_reads_back_exactly_the_modules_of_excel_vba(stored_modules):
    sources = source_modules()
    assert set(stored_modules) == set(sources) | DOCUMENT_MODULES
    for name, source in sources.items():
        assert _body(stored_modules[name]) == _body(source), f"{name} differs from excel/vba/"


def test_document_modules_hold_no_code(stored_modules):
    for name in DOCUMENT_MODULES:
        assert _body(stored_modules[name]) == "Option Explicit", name


def test_sheets_and_code_names(workbook):
    assert workbook.sheetnames == list(SHEETS)
    for sheet_name, code_name in SHEETS.items():
        assert workbook[sheet_name].sheet_properties.codeName == code_name


def test_named_cells_point_at_their_cells(workbook):
    for name, (sheet, cell) in NAMED_CELLS.items():
        column, row = re.fullmatch(r"([A-Z]+)([0-9]+)", cell).groups()
        expected = f"'{sheet}'!${column}${row}"
        assert workbook.defined_names[name].attr_text == expected, name


def test_settings_have_working_defaults(workbook):
    settings = workbook["Settings"]
    assert settings["B3"].value == "http://127.0.0.1:5000"
    assert settings["B4"].value is None  # no key: the local server is open
    assert settings["B5"].value == 30
    assert settings["B6"].value == 1000
    assert settings["B7"].value == "logistic"


def test_model_cells_are_drop_downs_of_both_models(workbook):
    """The drop-downs read a list on their own sheet, which 'Refresh models' rewrites."""
    for sheet, cell in (("Applicant", "B3"), ("Settings", "B7")):
        lists = [
            dv
            for dv in workbook[sheet].data_validations.dataValidation
            if dv.type == "list" and cell in dv.sqref
        ]
        assert len(lists) == 1, (sheet, cell)
        items = [c.value for (c,) in workbook[sheet][lists[0].formula1.replace("$", "")]]
        assert items == ["logistic", "forest"], (sheet, cell)


def test_applicant_sheet_opens_with_the_seed_cards_layout(workbook):
    applicant = workbook["Applicant"]
    header = NAMED_CELLS["InputsHeader"][1]
    assert header == "A6"
    rows = [[c.value for c in row] for row in applicant.iter_rows(min_row=6, max_row=10, max_col=5)]
    assert rows[0] == ["Input", "Value", "Unit", "Accepted", "Field"]
    assert [row[4] for row in rows[1:]] == ["duration", "amount", "age", None]
    assert [row[1] for row in rows[1:4]] == [24, 4000, 35]
    assert applicant["B3"].value == applicant["B4"].value == "logistic"


FEATURE_NAMES = re.compile(
    r"\b(duration|amount|age|checking_status|credit_history|purpose|savings|employment_since"
    r"|installment_rate|personal_status_sex|other_debtors|residence_since|property"
    r"|other_installment_plans|housing|existing_credits|job|people_liable|telephone"
    r"|foreign_worker)\b"
)


def test_no_feature_name_in_the_vba_code():
    """The macros learn every feature from the card: no name of the German Credit data may
    appear in the code of excel/vba/ (as a string or an identifier; VBA's own `Property` is
    capitalised, the feature names are lower case)."""
    found = [
        f"{name}:{number}: {line.strip()}"
        for name, source in source_modules().items()
        for number, line in enumerate(source.split("\r\n"), start=1)
        if FEATURE_NAMES.search(line.split("'", 1)[0] if '"' not in line else line)
    ]
    assert not found, "\n".join(found)


def test_batch_sheet_ships_a_sample_table_with_one_invalid_row(workbook):
    batch = workbook["Batch"]
    assert list(batch.tables) == ["Applicants"]
    header = [batch.cell(1, col).value for col in range(1, 9)]
    assert header == [
        "id",
        "duration",
        "amount",
        "age",
        "probability_default",
        "decision",
        "error",
        "warning",
    ]
    rows = [[batch.cell(r, c).value for c in range(1, 5)] for r in range(2, 26)]
    assert rows[0] == ["S-001", 6, 1169, 67]  # the first applicant of the German Credit data
    assert [row[3] for row in rows].count(17) == 1  # too young: shows the error column
    assert batch.cell(26, 1).value is None


def test_every_button_runs_a_public_sub_of_the_modules(workbook):
    sources = source_modules()
    found = {}
    for sheet_name in SHEETS:
        sheet = workbook[sheet_name]
        if sheet.legacy_drawing is None:
            continue
        for button in vml_buttons(WORKBOOK_PATH, sheet.legacy_drawing):
            found[button["caption"]] = (sheet_name, button["macro"])
    assert found == {caption: (sheet, macro) for caption, (sheet, _, macro) in BUTTONS.items()}
    for _, macro in found.values():
        module, procedure = macro.split(".")
        assert procedure in public_subs(sources[module]), macro
        assert "Option Private Module" not in sources[module], f"{module} hides {procedure}"


def test_readme_sheet_explains_the_server_and_mark_of_the_web(workbook):
    text = "\n".join(str(c.value) for c in workbook["ReadMe"]["A"] if c.value)
    assert "make serve" in text
    assert "Unblock" in text
    assert "Trusted Location" in text


def test_xlwings_conf_sheet_for_the_udfs(workbook):
    conf = workbook["xlwings.conf"]
    assert [[c.value for c in row] for row in conf.iter_rows(max_col=2)] == [
        ["UDF Modules", "excel.udfs"],
        ["CREDITSCORER_API_URL", "http://127.0.0.1:5000"],
        ["CREDITSCORER_API_KEY", None],
    ]


def test_udf_examples_sheet_calls_every_udf(workbook):
    formulas = " ".join(
        str(cell.value)
        for row in workbook["UDF examples"].iter_rows()
        for cell in row
        if isinstance(cell.value, str) and cell.value.startswith("=")
    ) + " ".join(
        str(cell.value.text)
        for row in workbook["UDF examples"].iter_rows()
        for cell in row
        if hasattr(cell.value, "text")
    )
    for udf in (
        "CREDIT_SCORE(",
        "CREDIT_DECISION(",
        "CREDIT_REASONS(",
        "CREDIT_SCORE_TABLE(",
        "CREDIT_MODELS(",
    ):
        assert udf in formulas, udf
    assert '=CREDIT_SCORE(B4,C4,D4,"forest")' in formulas
