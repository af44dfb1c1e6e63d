"""Reading batch requests (JSON table or records, CSV, Arrow, Parquet, xlsx) and writing replies.

Every format becomes the same ``InputTable``: the feature columns by lower-case name,
the row count, and row-level problems found while reading (a row of the wrong length),
which are reported on that row instead of failing the batch.

CSV, Apache Arrow IPC streams and Parquet are read and written with pyarrow: columns
stay columns from the socket to the model and back, and no Python code runs per row
(a CSV of 100,000 rows took 1.2 s through the ``csv`` module). pyarrow is imported on
the first such batch, so that a worker that only scores single applicants starts small.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

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
    echo_table: Any = None  # a pyarrow.Table of the input, for columnar replies

    def echo_row_lists(self) -> list[Sequence[Any]] | None:
        """The echoed input as rows of Python values (a JSON reply to a columnar request)."""
        if self.echo_rows is None and self.echo_table is not None:
            columns = [column.to_pylist() for column in self.echo_table.columns]
            self.echo_rows = list(zip(*columns, strict=True)) if columns else []
        return self.echo_rows


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
    if echo:
        transposed = list(zip(*rows, strict=True)) if rows else []
        columns = {name: transposed[j] for name, j in positions.items()}
    else:  # only the feature columns, each picked out in C (a fraction of a full transpose)
        columns = {name: list(map(itemgetter(j), rows)) for name, j in positions.items()}
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
    """A CSV table with a header row, ``,`` or ``;`` separated (Excel's choice in some locales).

    pyarrow's parser reads it (every cell as text, as the ``csv`` module would); a table it
    refuses (a row of the wrong length, a broken quote) goes through the ``csv`` module,
    whose answer names the row or the problem.
    """
    table = _csv_with_arrow(data, field_name)
    if table is not None:
        return from_arrow(table, features, max_rows, field_name)
    return _csv_with_python(data, features, max_rows, field_name)


_BOM = b"\xef\xbb\xbf"


def _csv_with_arrow(data: bytes, field_name: str) -> Any:
    """The CSV as a pyarrow.Table of text columns, or None when the ``csv`` module must decide."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    first_line = data.split(b"\n", 1)[0]
    delimiter = ";" if first_line.count(b";") > first_line.count(b",") else ","
    try:
        header = next(csv.reader([first_line.decode("utf-8").rstrip("\r")], delimiter=delimiter))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    if not header or len(set(header)) != len(header) or first_line.count(b'"') % 2:
        return None  # no header, duplicate names, a name across lines: the general path says
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    if table.num_rows:
        blank = None  # rows whose every cell is blank, as Excel writes ",,,"
        for column in table.columns:
            empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(column)), 0)
            blank = empty if blank is None else pc.and_(blank, empty)
        if blank is not None and pc.any(blank).as_py():
            table = table.filter(pc.invert(blank))
    return table


def _csv_with_python(
    data: bytes, features: Sequence[str], max_rows: int, field_name: str
) -> InputTable:
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


ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
PARQUET_TYPES = (PARQUET, "application/x-parquet")
_PARQUET_MAGIC = b"PAR1"


def from_arrow_stream(
    data: bytes, features: Sequence[str], max_rows: int, field_name: str
) -> InputTable:
    """An Apache Arrow IPC stream, as ``pyarrow.ipc.new_stream`` or any Arrow library writes."""
    import pyarrow as pa

    try:
        with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
            table = reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError):
        raise _bad(field_name, "is not a readable Apache Arrow IPC stream") from None
    return from_arrow(table, features, max_rows, field_name)


def from_parquet(
    data: bytes, features: Sequence[str], max_rows: int, field_name: str
) -> InputTable:
    """A Parquet file: every row group, every column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not (data.startswith(_PARQUET_MAGIC) and data.endswith(_PARQUET_MAGIC)):
        raise _bad(field_name, "is not a Parquet file (no PAR1 marks at its ends)")
    try:
        table = pq.read_table(pa.BufferReader(data), use_threads=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError):
        raise _bad(field_name, "is not a readable Parquet file") from None
    return from_arrow(table, features, max_rows, field_name)


def _arrow_column_values(column: Any) -> Sequence[Any]:
    """One Arrow column as what validation reads fastest: NumPy numbers when clean, else values.

    A numeric column without nulls becomes a float64 array (no copy when it can be
    avoided); a text column whose cells all read as numbers is converted in C; anything
    else (nulls, words, booleans) becomes Python values, so that validation names each
    bad row instead of failing the column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if column.null_count == 0:
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            return column.to_numpy(zero_copy_only=False)
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            try:
                return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
    return column.to_pylist()


def from_arrow(table: Any, features: Sequence[str], max_rows: int, field_name: str) -> InputTable:
    """A pyarrow.Table (read from CSV, an Arrow stream or Parquet): columns stay columns."""
    header = list(table.column_names)
    if not header:
        raise _bad(field_name, "has no columns; expected a header row and at least one data row")
    _check_rows(table.num_rows, max_rows)
    positions = match_columns(header, features)
    columns = {name: _arrow_column_values(table.column(j)) for name, j in positions.items()}
    return InputTable(columns=columns, n_rows=table.num_rows, echo_columns=header, echo_table=table)


def _result_arrays(result: Any) -> tuple[list[str], list[Any]]:
    """The result columns of a ``BatchResult`` as Arrow arrays, built without a per-row loop."""
    import pyarrow as pa

    n = result.n_rows
    probability = result.probability_default
    failed = np.zeros(n, dtype=bool)
    if result.errors:
        failed[np.fromiter(result.errors.keys(), dtype=np.intp, count=len(result.errors))] = True
    declined = probability >= result.threshold
    # Dictionary-encoded words: two strings, one byte per row.
    decision = pa.DictionaryArray.from_arrays(
        pa.array(declined.view(np.int8), mask=failed), pa.array(["approve", "decline"])
    ).cast(pa.string())
    names = ["probability_default", "decision", "error", "warning"]
    arrays = [
        pa.array(probability, mask=failed),
        decision,
        _sparse_text(n, result.errors),
        _sparse_text(n, result.warnings),
    ]
    if result.contributions is not None:
        for j, name in enumerate(result.feature_names):
            names.append(f"contribution_{name}")
            arrays.append(pa.array(np.ascontiguousarray(result.contributions[:, j]), mask=failed))
    return names, arrays


def _sparse_text(n: int, messages: dict[int, str]) -> Any:
    import pyarrow as pa

    if not messages:
        return pa.nulls(n, pa.string())
    values: list[str | None] = [None] * n
    for i, message in messages.items():
        values[i] = message
    return pa.array(values, pa.string())


def _neutralised_arrow(column: Any) -> Any:
    """A text column with formula-like cells prefixed by an apostrophe (CSV injection)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    risky = pc.match_substring_regex(column, r"^[=+\-@\t\r]")
    if not pc.any(risky).as_py():
        return column
    return pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)


def result_table(result: Any, table: InputTable, neutralise_text: bool = False) -> Any:
    """The reply as a pyarrow.Table: the echoed input columns (if any), then the results."""
    import pyarrow as pa

    names, arrays = _result_arrays(result)
    if table.echo_table is not None:
        echo = table.echo_table
        echo_arrays = [c.combine_chunks() for c in echo.columns]
        echo_names = list(echo.column_names)
        if neutralise_text:
            echo_arrays = [_neutralised_arrow(c) for c in echo_arrays]
            echo_names = [neutralise(c) for c in echo_names]
        names, arrays = echo_names + names, echo_arrays + arrays
    elif neutralise_text:
        names = [neutralise(c) for c in names]
    return pa.Table.from_arrays(arrays, names=names)


def to_csv_columnar(result: Any, table: InputTable) -> bytes:
    """The reply as CSV, written by pyarrow (input echoed and neutralised, then results)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    reply = result_table(result, table, neutralise_text=True)
    # The header as the csv module writes it (quoted only where needed, as before), the
    # cells by pyarrow (which quotes every text cell: any CSV reader takes both).
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow(reply.column_names)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(reply, sink, pacsv.WriteOptions(eol="\r\n", include_header=False))
    return header.getvalue().encode("utf-8") + sink.getvalue().to_pybytes()


def to_arrow_stream(result: Any, table: InputTable) -> bytes:
    """The reply as an Apache Arrow IPC stream."""
    import pyarrow as pa

    reply = result_table(result, table)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, reply.schema) as writer:
        writer.write_table(reply)
    return sink.getvalue().to_pybytes()


def to_parquet(result: Any, table: InputTable) -> bytes:
    """The reply as a Parquet file, uncompressed (it crosses a network, not an archive)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(result_table(result, table), sink, compression="none")
    return sink.getvalue().to_pybytes()


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
