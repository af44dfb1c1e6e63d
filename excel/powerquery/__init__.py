"""The macro-free workbook: excel/CreditScorer-PowerQuery.xlsx, built beside the .xlsm.

Macros from the internet are blocked by default and some companies ban them, so the
build also writes an ``.xlsx`` (no VBA at all) whose Power Query sends the Batch table to
``POST /v1/predict/batch`` with ``Web.Contents`` and loads the reply as the ``Scores``
table beside it: Data → Refresh All scores the table.

- The query reads the API address, key and model from the named cells ``ApiUrl``,
  ``ApiKey`` and ``DefaultModel`` of its Settings sheet; the key goes in the
  ``X-API-Key`` header (never in the URL), and only when the cell is not empty.
- The body is ``{"model": ..., "records": [...]}`` (the API's records form) of the
  ``Applicants`` table without its result columns; the reply's ``columns`` + ``rows`` become
  the table, with the input ``id`` first.
- pyOpenVBA's Power Query support writes the DataMashup part (its own format, checked by
  its authors against Excel); ``check.js`` beside this file parses the M text with
  Microsoft's parser (``@microsoft/powerquery-parser``, pinned in package-lock.json).
- The query ID is derived from the M text, so the build stays reproducible.
"""

from __future__ import annotations

import re
import uuid
import zipfile
from pathlib import Path

import xlsxwriter
from pyopenvba.powerquery import PowerQueryWorkbook

POWERQUERY_DIR = Path(__file__).resolve().parent
QUERY_NAME = "Scores"
TABLE_NAME = "Applicants"
RESULT_COLUMNS = ("probability_default", "decision", "error", "warning")
LOADED_COLUMNS = ("id", *RESULT_COLUMNS)

# The M text of the query. Kept free of the model's feature names: every column of the
# Applicants table but the result columns is sent, as the API matches columns by name.
QUERY_M = """let
    Cell = (name as text) => Excel.CurrentWorkbook(){[Name = name]}[Content]{0}[Column1],
    ApiUrl = Text.Trim(Text.From(Cell("ApiUrl"))),
    ApiKey = Cell("ApiKey"),
    Model = Cell("DefaultModel"),
    Applicants = Excel.CurrentWorkbook(){[Name = "Applicants"]}[Content],
    Inputs = Table.RemoveColumns(
        Applicants,
        {"probability_default", "decision", "error", "warning"},
        MissingField.Ignore
    ),
    Body = Json.FromValue([
        model = if Model = null then "" else Text.From(Model),
        records = Table.ToRecords(Inputs)
    ]),
    KeyHeader =
        if ApiKey = null or Text.From(ApiKey) = "" then []
        else [#"X-API-Key" = Text.From(ApiKey)],
    Reply = Json.Document(
        Web.Contents(
            ApiUrl,
            [
                RelativePath = "v1/predict/batch",
                Headers =
                    [#"Content-Type" = "application/json", Accept = "application/json"]
                    & KeyHeader,
                Content = Body
            ]
        )
    ),
    Results = Table.FromRows(Reply[rows], Reply[columns]),
    Scores = Table.FromColumns(
        {Table.Column(Applicants, "id")}
            & Table.ToColumns(
                Table.SelectColumns(
                    Results, {"probability_default", "decision", "error", "warning"}
                )
            ),
        {"id", "probability_default", "decision", "error", "warning"}
    )
in
    Scores"""


def write_powerquery_workbook(
    out: Path, sample_rows: list[list[object]], input_columns: tuple[str, ...], defaults: dict
) -> Path:
    """Write the macro-free workbook: Batch (the table), Settings (named cells), Scores
    (the query's table, filled by Excel on its first refresh), ReadMe."""
    staged = out.with_suffix(".staged.xlsx")
    workbook = xlsxwriter.Workbook(str(staged))
    workbook.set_properties(
        {
            "title": "CreditScorer (Power Query)",
            "author": "CreditScorer",
            "created": defaults["created"],
        }
    )
    bold = workbook.add_format({"bold": True})
    readme = workbook.add_worksheet("ReadMe")
    readme.set_column("A:A", 100)
    for row, line in enumerate(README_LINES):
        readme.write_string(row, 0, line, bold if row == 0 else None)
    batch = workbook.add_worksheet("Batch")
    batch.add_table(
        0,
        0,
        len(sample_rows),
        len(input_columns) - 1,
        {
            "name": TABLE_NAME,
            "data": sample_rows,
            "style": "Table Style Light 9",
            "columns": [{"header": name} for name in input_columns],
        },
    )
    settings = workbook.add_worksheet("Settings")
    settings.set_column("A:A", 16)
    settings.set_column("B:B", 34)
    for row, (label, name, value) in enumerate(
        (
            ("API address", "ApiUrl", defaults["api_url"]),
            ("API key", "ApiKey", ""),
            ("Model", "DefaultModel", defaults["model"]),
        )
    ):
        settings.write_string(row, 0, label, bold)
        if value:
            settings.write_string(row, 1, value)
        else:
            settings.write_blank(row, 1, None)
        workbook.define_name(name, f"=Settings!$B${row + 1}")
    workbook.add_worksheet(QUERY_NAME)
    workbook.close()

    with PowerQueryWorkbook(staged) as book:
        query_id = uuid.uuid5(uuid.NAMESPACE_URL, "creditscorer:powerquery:" + QUERY_M)
        book.add_query(QUERY_NAME, QUERY_M, query_id=query_id)
        book.load_to_sheet(
            QUERY_NAME, list(LOADED_COLUMNS), sheet=QUERY_NAME, table_name=QUERY_NAME
        )
        book.save(staged)
    _fix_item_id(staged, out, uuid.uuid5(query_id, "datastore-item"))
    staged.unlink()
    return out


def _fix_item_id(source: Path, out: Path, item_id: uuid.UUID) -> None:
    """Copy the package, with the custom XML part's random ``itemID`` replaced by one
    derived from the content (pyOpenVBA makes a new one on every save)."""
    with zipfile.ZipFile(source) as package, zipfile.ZipFile(out, "w") as copy:
        for info in package.infolist():
            data = package.read(info.filename)
            if re.fullmatch(r"customXml/itemProps\d+\.xml", info.filename):
                text = data.decode("utf-8")
                text = re.sub(
                    r'itemID="\{[0-9A-Fa-f-]+\}"', f'itemID="{{{str(item_id).upper()}}}"', text
                )
                data = text.encode("utf-8")
            copy.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)


README_LINES = (
    "CreditScorer workbook without macros (Power Query)",
    "",
    "1. Start the server (make serve); its address is in Settings!B1 (ApiUrl).",
    "2. If the server has keys, type yours in Settings!B2 (ApiKey): it is sent in the "
    "X-API-Key header, never in the address.",
    "3. Put your rows in the Batch table (one column per feature, plus id).",
    "4. Data > Refresh All. The first time Excel asks how to connect to the address "
    "(choose Anonymous) and about privacy levels (choose Organizational for both the "
    "workbook and the address, or ignore privacy levels for this file).",
    "5. The Scores sheet shows id, probability_default, decision, error and warning per row.",
)
