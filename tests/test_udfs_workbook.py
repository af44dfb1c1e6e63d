"""The workbook's side of the UDFs: its xlwings.conf sheet and its example formulas.

The workbook (excel/CreditScorer.xlsm, built by excel/build.py) must name this module
and the settings it reads, and every CREDIT_* formula in it must call a function that
exists with a valid number of arguments. The example formulas are then evaluated the
way Excel would call them (cell values in, numbers as floats), against the live server.
"""

from __future__ import annotations

import inspect
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils.cell import coordinate_from_string, range_boundaries
from openpyxl.worksheet.formula import ArrayFormula
from support import PROJECT_ROOT

from excel import udfs
from excel.udf_service import DEFAULT_API_URL, UdfService, resolve_settings

WORKBOOK = PROJECT_ROOT / "excel" / "CreditScorer.xlsm"
CALL = re.compile(r"^=(?:_xludf\.)?(CREDIT_[A-Z_]+)\((.*)\)$", re.DOTALL)
CELL = re.compile(r"^\$?[A-Z]{1,3}\$?\d+$")
RANGE = re.compile(r"^\$?[A-Z]{1,3}\$?\d+:\$?[A-Z]{1,3}\$?\d+$")
ARRAY_FUNCTIONS = {"CREDIT_REASONS", "CREDIT_SCORE_TABLE", "CREDIT_MODELS"}


@pytest.fixture(scope="module")
def workbook():
    if not WORKBOOK.is_file():
        pytest.skip(f"{WORKBOOK.name} is not built yet (python -m excel.build)")
    return load_workbook(WORKBOOK, read_only=False)


def config_sheet(workbook) -> dict[str, Any]:
    sheet = workbook["xlwings.conf"]
    return {row[0]: row[1] for row in sheet.iter_rows(min_col=1, max_col=2, values_only=True)}


def formulas(workbook) -> Iterator[tuple[str, str, str]]:
    """(sheet, cell, formula text) for every CREDIT_* formula in the workbook."""
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                value = cell.value
                text = value.text if isinstance(value, ArrayFormula) else value
                if isinstance(text, str) and text.startswith("=") and "CREDIT_" in text:
                    yield sheet.title, cell.coordinate, text


def split_arguments(text: str) -> list[str]:
    """Split a formula's argument list at top-level commas (not inside quotes or brackets)."""
    if not text.strip():
        return []
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append(current.strip())
            current = ""
            continue
        current += char
    parts.append(current.strip())
    return parts


def excel_value(value: Any) -> Any:
    """A cell value as xlwings hands it to a UDF: numbers are floats."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def evaluate(sheet, argument: str) -> Any:
    """One argument of the simple kinds the examples use; anything else fails the test."""
    if argument.startswith('"') and argument.endswith('"'):
        return argument[1:-1].replace('""', '"')
    if argument.upper() in ("TRUE", "FALSE"):
        return argument.upper() == "TRUE"
    if re.fullmatch(r"-?\d+(\.\d+)?", argument):
        return float(argument)
    if CELL.match(argument):
        column, row = coordinate_from_string(argument.replace("$", ""))
        return excel_value(sheet[f"{column}{row}"].value)
    if RANGE.match(argument):
        min_col, min_row, max_col, max_row = range_boundaries(argument.replace("$", ""))
        rows = sheet.iter_rows(
            min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col, values_only=True
        )
        return [[excel_value(v) for v in row] for row in rows]
    pytest.fail(f"the test cannot evaluate the argument {argument!r}; extend evaluate()")


def arity(name: str) -> tuple[int, int]:
    """(required, total) arguments a worksheet user can give; caller is xlwings' own."""
    parameters = [
        p for p in inspect.signature(getattr(udfs, name)).parameters.values() if p.name != "caller"
    ]
    required = sum(p.default is inspect.Parameter.empty for p in parameters)
    return required, len(parameters)


def test_the_config_sheet_names_this_module_and_its_settings(workbook):
    config = config_sheet(workbook)
    assert config["UDF Modules"] == udfs.__name__ == "excel.udfs"
    assert {"CREDITSCORER_API_URL", "CREDITSCORER_API_KEY"} <= set(config)
    settings = resolve_settings(config, {})
    assert settings.api_url == DEFAULT_API_URL
    assert settings.source == "the xlwings.conf sheet"
    assert settings.api_key is None  # no key is shipped inside the workbook


def test_every_credit_formula_calls_a_udf_with_a_valid_number_of_arguments(workbook):
    found = list(formulas(workbook))
    assert {name for _, _, text in found for name in re.findall(r"CREDIT_[A-Z_]+", text)} >= {
        "CREDIT_SCORE",
        "CREDIT_DECISION",
        "CREDIT_REASONS",
        "CREDIT_SCORE_TABLE",
        "CREDIT_MODELS",
    }
    for sheet, cell, text in found:
        match = CALL.match(text)
        assert match, f"{sheet}!{cell}: {text} is not one plain CREDIT_* call"
        name, arguments = match.groups()
        assert hasattr(udfs, name), f"{sheet}!{cell}: no worksheet function {name}"
        required, total = arity(name)
        count = len(split_arguments(arguments))
        assert required <= count <= total, f"{sheet}!{cell}: {text} gives {count} arguments"


def test_the_examples_compute_what_the_api_answers(workbook, monkeypatch, live_server):
    monkeypatch.setenv("CREDITSCORER_API_URL", live_server.url)
    monkeypatch.setattr(udfs, "service", UdfService())
    for sheet_name, cell, text in formulas(workbook):
        sheet = workbook[sheet_name]
        name, arguments = CALL.match(text).groups()
        values = [evaluate(sheet, a) for a in split_arguments(arguments)]
        result = getattr(udfs, name)(*values)
        shown = result if isinstance(result, str) else repr(result)[:200]
        assert not (isinstance(result, str) and result.startswith("#")), f"{cell}: {shown}"
        if name == "CREDIT_SCORE":
            duration, amount, age, model = values
            body = {"model": model, "duration": duration, "amount": amount, "age": age}
            expected = live_server.post("/v1/predict", json=body).json()
            assert result == expected["probability_default"], cell
        if name == "CREDIT_SCORE_TABLE":
            assert len(result) == len(values[0]), f"{cell}: one result row per input row"


def dynamic_array_cells(sheet_title: str) -> set[str]:
    """Cells of a sheet saved with dynamic-array metadata (``cm="1"``), read from the XML.

    openpyxl shows legacy and dynamic array formulas alike; Excel does not.
    """
    with zipfile.ZipFile(WORKBOOK) as package:
        workbook_xml = package.read("xl/workbook.xml").decode("utf-8")
        rels = package.read("xl/_rels/workbook.xml.rels").decode("utf-8")
        sheet = re.search(rf'<sheet name="{re.escape(sheet_title)}"[^>]*r:id="(\w+)"', workbook_xml)
        assert sheet, sheet_title
        target = re.search(rf'Id="{sheet.group(1)}"[^>]*Target="([^"]+)"', rels)
        assert target, sheet.group(1)
        xml = package.read("xl/" + target.group(1).removeprefix("/xl/")).decode("utf-8")
    return set(re.findall(r'<c r="([A-Z]+[0-9]+)"[^>]*\bcm="1"', xml))


def test_functions_that_return_arrays_are_saved_as_dynamic_array_formulas(workbook):
    for sheet, cell, text in formulas(workbook):
        name = CALL.match(text).group(1)
        if name in ARRAY_FUNCTIONS:
            assert cell in dynamic_array_cells(sheet), f"{sheet}!{cell}: {text} would not spill"
