"""The macro-free workbook: its Power Query is in the built file, parses with Microsoft's
M parser, and the request it builds is one the API accepts (sent to a real server)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile

import openpyxl
import requests
from support import PROJECT_ROOT, require_part

from excel import build
from excel.powerquery import POWERQUERY_DIR, QUERY_M, QUERY_NAME, RESULT_COLUMNS

WORKBOOK = build.EXCEL_DIR / build.POWERQUERY_WORKBOOK_NAME
NPM_HINT = f"install Node.js and run `npm ci` in {POWERQUERY_DIR.relative_to(PROJECT_ROOT)}"


def section_text(path) -> str:
    """Formulas/Section1.m out of the workbook's DataMashup part, decoded here: the custom
    XML part holds it in base64; the binary starts with a version (0) and the length of
    the OPC package that holds the M text."""
    with zipfile.ZipFile(path) as package:
        parts = [n for n in package.namelist() if re.fullmatch(r"customXml/item\d+\.xml", n)]
        texts = [
            package.read(n).decode("utf-16" if package.read(n)[:2] == b"\xff\xfe" else "utf-8")
            for n in parts
        ]
    (mashup,) = [t for t in texts if "DataMashup" in t]
    blob = base64.b64decode(re.search(r"<DataMashup[^>]*>([^<]+)</DataMashup>", mashup).group(1))
    version, size = struct.unpack_from("<II", blob, 0)
    assert version == 0
    with zipfile.ZipFile(io.BytesIO(blob[8 : 8 + size])) as opc:
        return opc.read("Formulas/Section1.m").decode("utf-8-sig")


def parse_m(text: str) -> dict:
    node = shutil.which("node")
    require_part(node is not None, f"Node.js is missing: {NPM_HINT}")
    parser = POWERQUERY_DIR / "node_modules" / "@microsoft" / "powerquery-parser"
    require_part(parser.is_dir(), f"@microsoft/powerquery-parser is not installed: {NPM_HINT}")
    done = subprocess.run(
        [node, str(POWERQUERY_DIR / "check.js")],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_committed_workbook_is_what_the_build_makes(tmp_path):
    build.build(tmp_path / "CreditScorer.xlsm")
    fresh = tmp_path / build.POWERQUERY_WORKBOOK_NAME
    with zipfile.ZipFile(WORKBOOK) as committed, zipfile.ZipFile(fresh) as built:
        assert committed.namelist() == built.namelist()
        for name in committed.namelist():
            assert committed.read(name) == built.read(name), name


def test_the_built_file_holds_the_query_and_no_macros():
    text = section_text(WORKBOOK)
    assert text.startswith("section Section1;")
    assert f"shared {QUERY_NAME} = {QUERY_M};" in text
    with zipfile.ZipFile(WORKBOOK) as package:
        names = package.namelist()
        assert not any("vbaProject" in n for n in names)
        assert "xl/connections.xml" in names
        assert "macroEnabled" not in package.read("[Content_Types].xml").decode()
    # The query loads into the table of the Scores sheet.
    book = openpyxl.load_workbook(WORKBOOK)
    assert "Scores" in book["Scores"].tables
    names = {name: defined.attr_text for name, defined in book.defined_names.items()}
    assert names["ApiUrl"] == "Settings!$B$1"
    assert names["ApiKey"] == "Settings!$B$2"


def test_microsofts_parser_accepts_the_section_and_rejects_a_broken_one():
    text = section_text(WORKBOOK)
    assert parse_m(text) == {"ok": True}
    broken = parse_m(text.replace("Content = Body", "Content = "))
    assert broken["ok"] is False, broken


def test_the_m_code_keeps_the_key_in_a_header_and_posts_json():
    # What the request below assumes about the M text, checked on the text itself.
    assert 'RelativePath = "v1/predict/batch"' in QUERY_M
    assert '[#"X-API-Key" = Text.From(ApiKey)]' in QUERY_M
    assert '#"Content-Type" = "application/json"' in QUERY_M
    assert "Content = Body" in QUERY_M  # Web.Contents POSTs when it has Content
    assert "records = Table.ToRecords(Inputs)" in QUERY_M
    assert "Query" not in QUERY_M  # nothing in the URL's query string: no key in logs


def _request_the_m_code_builds(path) -> tuple[str, dict, bytes]:
    """Build, from the workbook's own cells, the request Scores sends: the Applicants table
    without its result columns as records, the model cell, the key cell as X-API-Key."""
    book = openpyxl.load_workbook(path)
    cell = {name: book[d.attr_text.split("!")[0]][d.attr_text.split("!")[1].replace("$", "")].value
            for name, d in book.defined_names.items()}  # fmt: skip
    sheet, ref = book["Batch"], book["Batch"].tables["Applicants"].ref
    rows = [[c.value for c in row] for row in sheet[ref]]
    header, body_rows = rows[0], rows[1:]
    records = [
        {k: v for k, v in zip(header, row, strict=True) if k not in RESULT_COLUMNS}
        for row in body_rows
    ]
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if cell["ApiKey"]:
        headers["X-API-Key"] = str(cell["ApiKey"])
    body = json.dumps({"model": cell["DefaultModel"] or "", "records": records}).encode()
    return str(cell["ApiUrl"]).strip().rstrip("/") + "/v1/predict/batch", headers, body


def _add_key(database_url: str) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "server", "keys", "add", "--name", "powerquery-test"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "CREDITSCORER_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return created.stdout.strip().splitlines()[-1]


def test_a_real_server_answers_the_request_the_m_code_builds(server_factory, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    key = _add_key(database_url)
    server = server_factory(env={"CREDITSCORER_DATABASE_URL": database_url})
    book_path = tmp_path / "book.xlsx"
    shutil.copyfile(WORKBOOK, book_path)
    book = openpyxl.load_workbook(book_path)
    book["Settings"]["B1"] = server.url
    book.save(book_path)

    url, headers, body = _request_the_m_code_builds(book_path)
    assert "X-API-Key" not in headers
    refused = requests.post(url, data=body, headers=headers, timeout=30)
    assert refused.status_code == 401

    book = openpyxl.load_workbook(book_path)
    book["Settings"]["B2"] = key
    book.save(book_path)
    url, headers, body = _request_the_m_code_builds(book_path)
    assert key not in url
    reply = requests.post(url, data=body, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    # What the M code reads: columns + rows, the four result columns among them.
    assert set(RESULT_COLUMNS) <= set(answer["columns"])
    assert len(answer["rows"]) == len(json.loads(body)["records"])
    probability = answer["columns"].index("probability_default")
    error = answer["columns"].index("error")
    scored = [row for row in answer["rows"] if row[error] is None]
    assert scored
    assert all(0 <= row[probability] <= 1 for row in scored)
    assert len(scored) == len(answer["rows"]) - 1  # the sample's one invalid row
