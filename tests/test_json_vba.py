"""Json.bas against RFC 8259, run in headless LibreOffice with en-US and de-DE locales.

A copy of the workbook is built with a test-only module (tests/vba/JsonHarness.bas) that
feeds the texts of the tables below to JsonParse and the numbers to JsonNumber. Valid
texts must come back as the same JSON value (compared by Python's json module); invalid
ones must end in Json's parse error, never in a VBA run-time error (28 "Out of stack",
6 "Overflow") or a silently changed value.

Known limits, not in the tables: LibreOffice's Val reads subnormal numbers (below
2.2e-308) as 0, and the writer gives only 15 digits below 1E-290.
"""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest
from support import require_part

from devtools.lo_driver import LibreOffice, libreoffice_available
from excel import build

pytestmark = [pytest.mark.libreoffice, pytest.mark.slow]

HARNESS = build.EXCEL_DIR.parent / "tests" / "vba" / "JsonHarness.bas"

VALID = [
    "0", "-0", "1", "-1", "12", "0.5", "-0.25", "1e5", "1E5", "1e+5", "1e-5", "1.5E-07",
    "123456789012", "1.7976931348623157e308", "-1.7976931348623157e308", "1e-300",
    "0.30000000000000004", "1e-400",
    '""', '"a"', '"\\" \\\\ \\/ \\b \\f \\n \\r \\t"', '"\\u00e9\\u20AC"', '"\\ud83d\\ude00"',
    '"caf\u00e9 \u20ac"', "true", "false", "null", "[]", "{}", " [ 1 , 2 ] ", "\t[1]\r\n",
    '{"a":1,"b":[true,false,null],"c":{"d":"e"}}', '[[[[["deep"]]]]]', '[-0.0, 0E0, 0e-0]',
    '{"":""}', '["a\\"b", "c\\\\"]', '[1.0e+2, 10, 100.5]',
]  # fmt: skip

INVALID = [
    "", " ", "[-01]", "[01]", "[1+2]", "[0.1.2]", "[-]", "[.123]", "[2.e3]", "[1.]", "[+1]",
    "[1e]", "[1e+]", "[0x10]", "[1 2]", "[Infinity]", "[NaN]", "[-Infinity]", "[1,]", "[,1]",
    "[1,,2]", "{,}", '{"a"}', '{"a":}', '{"a" 1}', '{a:1}', "{'a':1}", "['a']", "[True]",
    "[nul]", "[truex]", "tru", "[", "]", "[1]]", "[1] x", '"abc', '"\\x"', '"\\u12"',
    '"\\uZZZZ"', "[1e400]", "[-1e400]", "[1.8e308]", "[123e99999999999]",
    "[1]\u00a0",
]  # fmt: skip

# Texts with control characters, sent to the harness as UTF-16 hex.
INVALID_CONTROL = [
    "[1]\x00", "\x00[1]", "[\x0c1]", '["a\x01b"]', '["tab\there"]', '["line\nbreak"]',
    '["\x1f"]', "[1,\x0b2]",
]  # fmt: skip

# A fixed sample of doubles that need 16 or 17 digits, from a seeded generator.
_RANDOM = [float.fromhex(h) for h in (
    "0x1.921fb54442d18p+1", "0x1.5bf0a8b145769p+1", "0x1.6a09e667f3bcdp+0",
    "0x1.0000000000001p+0", "0x1.fffffffffffffp-1", "0x1.999999999999ap-4",
    "0x1.3333333333333p-2", "0x1.b7cdfd9d7bdbbp+29", "0x1.2a05f20000001p+35",
    "0x1.47ae147ae147bp-7", "0x1.5555555555555p-2", "0x1.c71c71c71c71cp-4",
)]  # fmt: skip

NUMBERS = [
    *_RANDOM,
    0.0, 1.0, -1.0, 0.5, 0.1, 0.3, 0.30000000000000004, 1 / 3, 2 / 3, 123456789.123,
    1.7976931348623157e308, -1.7976931348623157e308, 1e-300, 2.2250738585072014e-290,
    1e21, 1e20, 123456789012345680.0, 9007199254740993.0, 0.1 + 0.7, 100.0, 1e-7, 1.5e-7,
    4.35, 0.000123, 5e-5, 1234.5678, 3.141592653589793, 2.718281828459045, 1e15, 1e16,
    12345678901234567890.0, 0.9999999999999999, 1.0000000000000002, 299792458.0,
]  # fmt: skip

JSON_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")


def significant_digits(text: str) -> int:
    mantissa = text.lstrip("-").split("e")[0].split("E")[0].replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) or 1


@pytest.fixture(scope="module")
def harness_workbook(tmp_path_factory):
    folder = tmp_path_factory.mktemp("json-harness")
    vba_dir = folder / "vba"
    shutil.copytree(build.VBA_DIR, vba_dir)
    shutil.copyfile(HARNESS, vba_dir / HARNESS.name)
    return build.build(folder / "JsonHarness.xlsm", vba_dir)


@pytest.fixture(scope="module", params=["en-US", "de-DE"])
def results(request, harness_workbook) -> dict:
    """Every case of the tables run once per locale: (kind, input) -> harness answer."""
    available, reason = libreoffice_available()
    require_part(available, "libreoffice", reason)
    cases = [("parse", t) for t in VALID + INVALID]
    cases += [("parsehex", t) for t in INVALID_CONTROL]
    cases += [("parse", "[" * n + "]" * n) for n in (150, 201, 10000)]
    cases += [("number", x) for x in NUMBERS]
    rows = []
    for kind, value in cases:
        if kind == "parsehex":
            value = "".join(f"{ord(c):04X}" for c in value)
        rows.append([value, kind])
    with LibreOffice(locale=request.param) as office:
        doc = office.open(harness_workbook)
        office.set_range(doc, "ReadMe", "D1", rows)
        office.run_macro(doc, "JsonHarness.RunJsonCases", timeout=300)
        answers = office.get_range(doc, "ReadMe", f"F1:F{len(rows)}")
        office.close_doc(doc)
    return {(kind, value): answer[0] for (kind, value), answer in zip(cases, answers, strict=True)}


def _answer(results, kind, value):
    answer = results[(kind, value)]
    assert isinstance(answer, str), f"no answer for {value!r}: macros did not run?"
    assert answer, f"no answer for {value!r}: macros did not run?"
    return answer


@pytest.mark.parametrize("text", VALID)
def test_valid_texts_read_back_to_the_same_value(results, text):
    answer = _answer(results, "parse", text)
    assert answer.startswith("ok "), f"{text!r}: {answer}"
    assert json.loads(answer[3:]) == json.loads(text)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_texts_are_a_parse_error(results, text):
    answer = _answer(results, "parse", text)
    assert answer.startswith("error "), f"{text!r}: {answer}"
    assert "not valid JSON" in answer, f"{text!r}: {answer}"


@pytest.mark.parametrize("text", INVALID_CONTROL)
def test_control_characters_outside_escapes_are_a_parse_error(results, text):
    answer = results[("parsehex", text)]
    assert answer.startswith("error "), f"{text!r}: {answer}"
    assert "not valid JSON" in answer, f"{text!r}: {answer}"


def test_nesting_has_a_limit_with_a_clear_parse_error(results):
    assert results[("parse", "[" * 150 + "]" * 150)].startswith("ok ")
    for depth in (201, 10000):
        answer = results[("parse", "[" * depth + "]" * depth)]
        assert "nested deeper than 200 levels" in answer, answer[:200]


def test_numbers_beyond_a_double_are_a_parse_error(results):
    for text in ("[1e400]", "[-1e400]", "[1.8e308]", "[123e99999999999]"):
        assert "does not fit a Double" in results[("parse", text)]


@pytest.mark.parametrize("number", NUMBERS)
def test_writer_gives_the_shortest_text_that_reads_back(results, number):
    answer = results[("number", number)]
    assert answer.startswith("n:"), answer
    text = answer[2:]
    assert JSON_NUMBER.fullmatch(text), text
    assert float(text) == number or (number == 0 and float(text) == 0)
    assert significant_digits(text) == significant_digits(repr(number)), (text, repr(number))
    assert not math.isinf(float(text))


def test_writer_edge_cases_of_the_issue(results):
    assert results[("number", 0.30000000000000004)] == "n:0.30000000000000004"
    assert results[("number", 1.7976931348623157e308)] == "n:1.7976931348623157E+308"
    assert results[("number", 0.1)] == "n:0.1"
