"""The workbook build: compile check, reproducible bytes, committed workbook is current."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from workbook_support import VBA_DIR, WORKBOOK_PATH, source_modules

from devtools.lo_driver import request_folders
from excel import build

BROKEN_MODULES = {
    "unclosed If": "Public Sub Broken()\r\n    If 1 = 1 Then\r\n        Beep\r\nEnd Sub\r\n",
    "missing End Sub": "Public Sub Broken()\r\n    Beep\r\n",
    "stray operator": "Public Function Broken() As Long\r\n    Broken = 1 +\r\nEnd Function\r\n",
    "unclosed string": 'Public Sub Broken()\r\n    MsgBox "never closed\r\nEnd Sub\r\n',
}


def _copy_modules(target: Path) -> Path:
    target.mkdir()
    for path in VBA_DIR.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as package:
        return {name: package.read(name) for name in package.namelist()}


def test_every_module_compiles():
    modules = build.read_modules()
    assert {m.name for m in modules} == set(source_modules())
    build.compile_check(modules)  # raises ModuleCompileError naming the module


@pytest.mark.parametrize("case", sorted(BROKEN_MODULES))
def test_compile_check_fails_on_a_broken_module(tmp_path, case):
    vba_dir = _copy_modules(tmp_path / "vba")
    (vba_dir / "Broken.bas").write_bytes(
        ('Attribute VB_Name = "Broken"\r\nOption Explicit\r\n' + BROKEN_MODULES[case]).encode()
    )
    with pytest.raises(build.ModuleCompileError, match="Broken"):
        build.compile_check(build.read_modules(vba_dir))


def test_build_refuses_a_broken_module_and_writes_nothing(tmp_path):
    vba_dir = _copy_modules(tmp_path / "vba")
    source = (vba_dir / "Json.bas").read_bytes().decode()
    (vba_dir / "Json.bas").write_bytes(source.replace("End Function", "", 1).encode())
    out = tmp_path / "out.xlsm"
    assert build.main(["--vba-dir", str(vba_dir), "--out", str(out)]) == 1
    assert not out.exists()


def test_building_twice_gives_identical_bytes(tmp_path):
    first = build.build(tmp_path / "first.xlsm")
    second = build.build(tmp_path / "second.xlsm")
    assert first.read_bytes() == second.read_bytes()


def test_committed_workbook_is_what_the_build_makes(tmp_path):
    """Fails when excel/vba/ or the layout changed without running python -m excel.build."""
    fresh = _members(build.build(tmp_path / "fresh.xlsm"))
    committed = _members(WORKBOOK_PATH)
    assert sorted(committed) == sorted(fresh)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"run `python -m excel.build` and commit: {stale} differ"


def test_modules_are_stored_with_crlf_line_endings():
    for name, source in source_modules().items():
        assert "\n" not in source.replace("\r\n", ""), f"{name} has bare LF line endings"
        assert source.endswith("\r\n"), name


def _code_lines(source: str) -> list[tuple[int, str]]:
    """(line number, code without its comment) for every line of a module."""
    lines = []
    for number, line in enumerate(source.split("\r\n"), start=1):
        code = re.sub(r"'.*$", "", re.sub(r'"[^"]*"', '""', line))
        lines.append((number, code))
    return lines


# Things that compile in Excel but break LibreOffice, each seen here (see README): the
# second group silently disables every macro of the workbook.
LIBREOFFICE_TRAPS = {
    r"\b(Dim|As|ByVal|ByRef|,)\s*(base|step)\b|^\s*(base|step)\s*=": (
        "variables named `base` or `step` (keywords in LibreOffice Basic) break the module"
    ),
    r"\bThen\s+ReDim\b": "one-line `If ... Then ReDim` makes LibreOffice skip the next statement",
    r"\bvbObjectError\b": "LibreOffice does not define vbObjectError",
    r"Print\s+#.*;\s*$": "`Print #f, text;` writes nothing in LibreOffice",
    r"\b(String|Space)\$?\(\s*[0-9]{6,}": "LibreOffice limits String$/Space$ to 65,535 chars",
    r"\bCreateObject\(\"Scripting\.Dictionary": "no Scripting.Dictionary in LibreOffice or on Mac",
    r"\bLongLong\b": "LibreOffice has no LongLong",
    r"\.(Select|Activate)\b|\bActiveSheet\b": "house style: code names, never Select/Activate",
}


@pytest.mark.parametrize("pattern", sorted(LIBREOFFICE_TRAPS))
def test_modules_avoid_known_libreoffice_traps(pattern):
    found = [
        f"{name}:{number}: {code.strip()}"
        for name, source in source_modules().items()
        for number, code in _code_lines(source)
        if re.search(pattern, code, flags=re.IGNORECASE)
    ]
    assert not found, LIBREOFFICE_TRAPS[pattern] + "\n" + "\n".join(found)


def test_modules_follow_the_house_style_header_rules():
    for name, source in source_modules().items():
        assert "Option Explicit" in source, name
        assert re.search(r"(?m)^' *Errors raised", source), f"{name}: no table of errors raised"
        assert not re.search(r"(?im)^\s*(Dim|Private|Public)\s.*\bAs Integer\b", source), name
        if name != "CreditScorerButtons" and name not in ("JsonObject", "StringBuffer"):
            assert "Option Private Module" in source, f"{name} should be private to the project"


def test_the_error_number_base_is_defined_once_for_every_module():
    """vbObjectError spelled out (LibreOffice has none): one public constant, not a copy
    per module that raises."""
    definitions = [
        (name, code.strip())
        for name, source in source_modules().items()
        for _, code in _code_lines(source)
        if re.search(r"\bConst\s+OBJECT_ERROR\b", code, flags=re.IGNORECASE)
    ]
    assert definitions == [("ErrorCodes", "Public Const OBJECT_ERROR As Long = -2147221504")], (
        definitions
    )


def test_the_request_folder_clean_up_matches_only_the_transports_folders(tmp_path):
    """The LibreOffice tests and tools remove the curl transport's new folders: by the name
    HttpTransport.bas gives them, so a benchmark's creditscorer-* folder beside them stays."""
    assert (
        '"/creditscorer-" & Format$(Date, "yyyymmdd") & "-" & _'
        in (source_modules()["HttpTransport"])
    )
    for name in ("creditscorer-20261202-1234567890", "creditscorer-load-x1", "creditscorer-ab"):
        (tmp_path / name).mkdir()
    assert request_folders(tmp_path) == {tmp_path / "creditscorer-20261202-1234567890"}


def test_every_on_error_resume_next_guards_one_statement():
    """House style: `On Error Resume Next` is closed by `On Error GoTo 0` after one statement."""
    for name, source in source_modules().items():
        statements = []
        for _, code in _code_lines(source):
            if statements and statements[-1].endswith(" _"):
                statements[-1] = statements[-1][:-2] + " " + code.strip()
            elif code.strip():
                statements.append(code.strip())
        for index, statement in enumerate(statements):
            if statement.lower() == "on error resume next":
                assert statements[index + 2].lower() == "on error goto 0", (
                    f"{name}: {statements[index + 1]!r} is not the only guarded statement"
                )
