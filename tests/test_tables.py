"""CSV replies: formula-like input cells are defused, everything else is written as it came."""

from __future__ import annotations

import csv
import io

from server.tables import to_csv


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_every_formula_prefix_is_neutralised_and_other_text_is_untouched():
    echo = [["=1+1"], ["+cmd"], ["-2"], ["@SUM(A1)"], ["\tx"], ["plain"], ["a\n=b"]]
    results = [[0.5, "approve", None, None]] * len(echo)
    rows = read(to_csv(["id", "p", "d", "e", "w"], results, echo))
    assert [r[0] for r in rows[1:]] == [
        "'=1+1", "'+cmd", "'-2", "'@SUM(A1)", "'\tx", "plain", "a\n=b"
    ]  # fmt: skip


def test_a_clean_text_column_and_numbers_from_xlsx_are_written_as_they_are():
    echo = [[f"A-{i}", -5.5 if i == 3 else i] for i in range(1000)]
    results = [[-0.25, None, None, None]] * len(echo)  # a negative number is not a formula
    rows = read(to_csv(["id", "amount", "p", "d", "e", "w"], results, echo))
    assert rows[4] == ["A-3", "-5.5", "-0.25", "", "", ""]
    assert rows[1000][0] == "A-999"


def test_header_cells_are_neutralised_too():
    rows = read(to_csv(["=evil", "p"], [[0.1]], None))
    assert rows == [["'=evil", "p"], ["0.1"]]
