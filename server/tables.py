"""Reading batch requests (JSON table or records, CSV, xlsx) and writing CSV replies.

Every format becomes the same ``InputTable``: the feature columns by lower-case name,
the row count, and row-level problems found while reading (a row of the wrong length),
which are reported on that row instead of failing the batch.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from creditscorer.errors import FieldError
from creditscorer.validation import match_columns
from server.problems import ApiError

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CHARS = frozenset(FORMULA_PREFIXES)
# A cell that starts like a formula, in a column joined with "\n" (a cell with an inner
# line break can only make this match too often, which the cell-by-cell path then sorts).
_FORMULA_START = re.compile(r"^[=+\-@\t\r]", re.MULTILINE)


@dataclass
class InputTable:
    """A batch as columns. ``echo_*`` hold the input table for replies that return it."""

    columns: dict[str, Sequence[Any]]
    n_rows: int
    row_errors: dict[int, str] = field(default_factory=dict)
    echo_columns: list[str] | None = None
    echo_rows: list[Sequence[Any]] | None = None


def _bad(field_name: str, message: str, status: int = 400) -> ApiError:
    return ApiError(status, f"{field_name}: {message}", [FieldError(field_name, message)])


def _check_rows(n_rows: int, max_rows: int) -> None:
    if n_rows == 0:
        raise _bad("rows", "the table has no rows")
    if n_rows > max_rows:
        raise ApiError(
            413,
            f"the table has {n_rows} rows; the limit is {max_rows} "
            "(setting CREDITSCORER_MAX_BATCH_ROWS): send it in smaller batches",
            [FieldError("rows", f"at most {max_rows} rows per request")],
        )


def from_rows(
    header: Sequence[Any],
    rows: list[Any],
    features: Sequence[str],
    max_rows: int,
    echo: bool,
) -> InputTable:
    """Build a table from a header and row lists, as a worksheet range gives them."""
    _check_rows(len(rows), max_rows)
    positions = match_columns(header, features)
    width = len(header)
    row_errors: dict[int, str] = {}
    if set(map(type, rows)) - {list, tuple}:
        raise _bad("rows", "every row must be an array of values")
    if set(map(len, rows)) != {width}:
        # Rare: pad or cut the odd rows so that columns line up, and flag those rows.
        fixed = []
        for i, row in enumerate(rows):
            if len(row) != width:
                row_errors[i] = f"row has {len(row)} values; the header has {width}"
                row = (list(row) + [None] * width)[:width]
            fixed.append(row)
        rows = fixed
    transposed = list(zip(*rows, strict=True)) if rows else []
    columns = {name: transposed[j] for name, j in positions.items()}
    return InputTable(
        columns=columns,
        n_rows=len(rows),
        row_errors=row_errors,
        echo_columns=[str(h) for h in header] if echo else None,
        echo_rows=rows if echo else None,
    )


def from_json(body: Any, features: Sequence[str], max_rows: int) -> InputTable:
    """A JSON batch: a columns + rows table, ``{"records": [...]}`` or a list of records."""
    if isinstance(body, list):
        records = body
    elif isinstance(body, dict) and "columns" in body:
        header, rows = body.get("columns"), body.get("rows")
        if not isinstance(header, list) or not header:
            raise _bad("columns", "must be a non-empty array of column names")
        if not isinstance(rows, list):
            raise _bad("rows", "must be an array of rows (arrays of values)")
        return from_rows(header, rows, features, max_rows, echo=False)
    elif isinstance(body, dict) and "records" in body:
        records = body["records"]
        if not isinstance(records, list):
            raise _bad("records", "must be an array of objects")
    else:
        raise _bad(
            "body", 'expected {"columns": [...], "rows": [[...]]}, {"records": [...]} or [...]'
        )
    _check_rows(len(records), max_rows)
    if set(map(type, records)) - {dict}:
        raise _bad("records", "every record must be an object")
    lowered = [{str(k).strip().lower(): v for k, v in r.items()} for r in records]
    columns = {
        name: [r.get(name) for r in lowered] for name in features if any(name in r for r in lowered)
    }
    return InputTable(columns=columns, n_rows=len(records))


def decode_text(data: bytes, field_name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _bad(
            field_name,
            f"is not UTF-8 text (invalid byte at position {error.start}); save as CSV UTF-8",
        ) from None


def from_csv(data: bytes, features: Sequence[str], max_rows: int, field_name: str) -> InputTable:
    """A CSV table with a header row, ``,`` or ``;`` separated (Excel's choice in some locales)."""
    text = decode_text(data, field_name)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as error:
        raise _bad(field_name, f"is not valid CSV ({error})") from None
    rows = [r for r in rows if "".join(r).strip()]  # blank lines, also ",,,"
    if not rows:
        raise _bad(field_name, "is empty; expected a header row and at least one data row")
    return from_rows(rows[0], rows[1:], features, max_rows, echo=True)


def from_xlsx(data: bytes, features: Sequence[str], max_rows: int, field_name: str) -> InputTable:
    """The first worksheet of an .xlsx workbook: a header row, then one applicant per row."""
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise _bad(field_name, "is not a readable .xlsx workbook") from None
    try:
        sheet = workbook.worksheets[0]
        rows: list[tuple[Any, ...]] = []
        for row in sheet.iter_rows(values_only=True):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                continue
            rows.append(row)
            if len(rows) > max_rows + 1:
                break
    finally:
        workbook.close()
    if not rows:
        raise _bad(field_name, "has no table on its first sheet")
    header = list(rows[0])
    while header and header[-1] is None:
        header.pop()
    body = [list(r[: len(header)]) + [None] * (len(header) - len(r)) for r in rows[1:]]
    return from_rows(header, body, features, max_rows, echo=True)


def neutralise(value: Any) -> Any:
    """Defuse text that a spreadsheet would run as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _neutralise_column(values: Sequence[Any]) -> Sequence[Any]:
    try:  # the usual case, text with no formula-like cell, checked in one pass
        if _FORMULA_START.search("\n".join(values)) is None:
            return values
    except TypeError:  # numbers or empty cells (xlsx): check cell by cell
        pass
    return [("'" + v) if type(v) is str and v[:1] in _FORMULA_CHARS else v for v in values]


def to_csv(
    columns: list[str], result_rows: list[list[Any]], echo_rows: list[Sequence[Any]] | None
) -> str:
    """The reply as CSV: the echoed input cells (neutralised) and then the result cells.

    Result cells are numbers, fixed words and messages the server wrote, so only the
    echoed input and the header can carry a formula. The csv module writes None as an
    empty cell and a float as its shortest round-trip text.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(c) for c in columns])
    if echo_rows:
        echo = zip(*(_neutralise_column(c) for c in zip(*echo_rows, strict=True)), strict=True)
        writer.writerows(a + tuple(b) for a, b in zip(echo, result_rows, strict=True))
    else:
        writer.writerows(result_rows)
    return buffer.getvalue()
