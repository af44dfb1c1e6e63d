"""Columnar batches through a real server: Arrow IPC streams, Parquet and CSV read and
written by pyarrow, replies in the request's format, every row answered in order."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import FULL_APPLICANT

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
TABLE = {
    "id": ["A-1", "=B-2", "C-3"],
    "duration": [24, 12, 48],
    "amount": [4000, 1500, 9000],
    "age": [35, 7, 52],  # 7: below the accepted minimum, an error on that row only
}


def arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def read_arrow(data: bytes) -> pa.Table:
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()


def json_scores(server, model: str, columns: dict[str, list]) -> list[list]:
    names = list(columns)
    rows = [list(r) for r in zip(*columns.values(), strict=True)]
    reply = server.post("/v1/predict/batch", json={"model": model, "columns": names, "rows": rows})
    assert reply.status_code == 200, reply.text
    return reply.json()["rows"]


def check_against_json(server, model: str, reply: pa.Table, columns: dict[str, list]) -> None:
    expected = json_scores(server, model, columns)
    assert reply.column("probability_default").to_pylist() == [r[0] for r in expected]
    assert reply.column("decision").to_pylist() == [r[1] for r in expected]
    assert reply.column("error").to_pylist() == [r[2] for r in expected]


@pytest.mark.parametrize(
    ("media_type", "encode", "decode"),
    [
        (ARROW, arrow_bytes, read_arrow),
        (PARQUET, parquet_bytes, lambda data: pq.read_table(pa.BufferReader(data))),
    ],
)
def test_a_columnar_body_gets_a_reply_in_its_own_format_with_the_input_echoed(
    live_server, media_type, encode, decode
):
    reply = live_server.post(
        "/v1/predict/batch?model=forest",
        data=encode(pa.table(TABLE)),
        headers={"Content-Type": media_type},
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == media_type
    assert reply.headers["X-Model-Version"]
    table = decode(reply.content)
    assert table.column_names[:4] == ["id", "duration", "amount", "age"]
    assert table.column("id").to_pylist() == TABLE["id"]  # not neutralised: not a spreadsheet
    errors = table.column("error").to_pylist()
    assert errors[0] is None
    assert errors[1].startswith("age:")
    assert table.column("probability_default").to_pylist()[1] is None
    check_against_json(live_server, "forest", table, TABLE)


def test_an_arrow_body_may_ask_for_json_and_gets_the_input_and_results(live_server):
    reply = live_server.post(
        "/v1/predict/batch?model=logistic&reasons=true",
        data=arrow_bytes(pa.table(TABLE)),
        headers={"Content-Type": ARROW, "Accept": "application/json"},
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["columns"][:5] == ["id", "duration", "amount", "age", "probability_default"]
    assert "contribution_age" in body["columns"]
    assert [row[0] for row in body["rows"]] == TABLE["id"]
    assert body["summary"] == {"rows": 3, "scored": 2, "failed": 1, "warned": 0}


def test_category_columns_arrive_as_text_in_parquet(live_server):
    rows = [FULL_APPLICANT, {**FULL_APPLICANT, "purpose": "yacht"}]
    columns = {name: [r[name] for r in rows] for name in FULL_APPLICANT}
    reply = live_server.post(
        "/v1/predict/batch?model=logistic_full",
        data=parquet_bytes(pa.table(columns)),
        headers={"Content-Type": PARQUET},
    )
    assert reply.status_code == 200, reply.text
    table = pq.read_table(pa.BufferReader(reply.content))
    errors = table.column("error").to_pylist()
    assert errors[0] is None
    assert errors[1].startswith("purpose:")
    check_against_json(live_server, "logistic_full", table, columns)


def test_dictionary_encoded_and_null_cells_are_row_errors_not_a_failed_batch(live_server):
    table = pa.table(
        {
            "duration": pa.array([24, None, 12]),
            "amount": pa.array(["4000", "1500", "lots"]),
            "age": pa.array(["35", "40", "52"]).dictionary_encode(),
        }
    )
    reply = live_server.post(
        "/v1/predict/batch?model=logistic",
        data=arrow_bytes(table),
        headers={"Content-Type": ARROW},
    )
    assert reply.status_code == 200, reply.text
    errors = read_arrow(reply.content).column("error").to_pylist()
    assert errors[0] is None
    assert errors[1].startswith("duration:")
    assert errors[2].startswith("amount:")


def test_a_parquet_file_upload_is_scored(live_server):
    reply = live_server.post(
        "/v1/predict/batch?model=logistic",
        files={"file": ("applicants.parquet", parquet_bytes(pa.table(TABLE)))},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["summary"]["scored"] == 2  # a form upload answers JSON, as for .csv


@pytest.mark.parametrize("media_type", [ARROW, PARQUET])
def test_an_unreadable_columnar_body_is_a_400_naming_the_body(live_server, media_type):
    reply = live_server.post(
        "/v1/predict/batch", data=b"PAR1 not really PAR1", headers={"Content-Type": media_type}
    )
    assert reply.status_code == 400
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json()["errors"][0]["field"] == "body"


def test_a_csv_body_gets_csv_back_with_formulas_defused_and_blank_lines_dropped(live_server):
    body = (
        "\ufeffid;duration;amount;age\r\n"
        '"=B-2";24;4000;35\r\n'
        ";;;\r\n"
        '"a ""quoted""\nname";12;1500;7\r\n'
    ).encode()
    reply = live_server.post(
        "/v1/predict/batch?model=forest", data=body, headers={"Content-Type": "text/csv"}
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert reply.text.startswith("id,duration,amount,age,probability_default,decision,")
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0][:5] == ["id", "duration", "amount", "age", "probability_default"]
    assert len(rows) == 3  # the blank line is no row
    assert rows[1][0] == "'=B-2"
    assert rows[2][0] == 'a "quoted"\nname'
    assert rows[2][6].startswith("age:")
    expected = json_scores(
        live_server, "forest", {"duration": [24, 12], "amount": [4000, 1500], "age": [35, 7]}
    )
    assert float(rows[1][4]) == expected[0][0]
    assert rows[2][4] == ""


def test_a_csv_row_of_the_wrong_length_is_flagged_on_that_row(live_server):
    body = b"duration,amount,age\n24,4000,35\n12,1500\n48,9000,52\n"
    reply = live_server.post(
        "/v1/predict/batch?model=logistic",
        data=body,
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
    )
    assert reply.status_code == 200, reply.text
    rows = reply.json()["rows"]
    errors = [r[-2] for r in rows]
    assert errors[0] is None
    assert "row has 2 values" in errors[1]
    assert errors[2] is None
