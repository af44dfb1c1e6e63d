"""The workbook's VBA project conforms to [MS-OVBA], read back by tests/ovba_reader.py.

The reader shares no code with the writer (excel/vbaproject.py); a workbook built the old
way (pyOpenVBA's project writer) is built here too, to show that the checks can fail.
"""

from __future__ import annotations

import re
import shutil
import zipfile

import pytest
from pyopenvba import ExcelFile
from pyopenvba.vba import VBAModuleKind

from excel import build
from tests.ovba_reader import decompress, violations

_EXCEL_CLASS_ATTRIBUTES = (
    (
        'Attribute VB_Name = "{name}"',
        'Attribute VB_Base = "0{{FCFB3D2A-A0FA-1068-A738-08002B3371B5}}"',
    ),
    ("Attribute VB_Exposed = False", "Attribute VB_TemplateDerived = False"),
    ("Attribute VB_TemplateDerived = False", "Attribute VB_Customizable = False"),
)


def expected_stream_text(path) -> str:
    """What Excel keeps in a module's stream for an exported ``.bas``/``.cls`` file: the
    ``.bas`` as it is; a ``.cls`` without its VERSION/BEGIN/END preamble, with the three
    attributes the export leaves out (VB_Base, VB_TemplateDerived, VB_Customizable)."""
    text = path.read_bytes().decode("utf-8")
    if path.suffix != ".cls":
        return text
    text = text[text.index("\r\nEND\r\n") + len("\r\nEND\r\n") :]
    for anchor, added in _EXCEL_CLASS_ATTRIBUTES:
        anchor = anchor.format(name=path.stem)
        assert anchor + "\r\n" in text, f"{path.name}: no {anchor!r}"
        text = text.replace(anchor + "\r\n", anchor + "\r\n" + added.format() + "\r\n", 1)
    return text


def sources() -> dict[str, str]:
    return {
        path.stem: expected_stream_text(path)
        for path in sorted(build.VBA_DIR.iterdir())
        if path.suffix in (".bas", ".cls")
    }


def old_way_workbook(tmp_path) -> bytes:
    """The workbook as the build made it before: pyOpenVBA writes the project."""
    modules = build.read_modules()
    skeleton = tmp_path / "skeleton.xlsm"
    build._write_workbook(skeleton, vba_bin=None)
    with_project = tmp_path / "with_project.xlsm"
    with ExcelFile(skeleton) as excel_file:
        project = excel_file.add_vba_project()
        for document in [m.name for m in project.modules]:
            excel_file.set_module(document, "Option Explicit\r\n")
        for module in modules:
            kind = VBAModuleKind.other if module.is_class else VBAModuleKind.standard
            project.add_module(module.name, module.source, kind=kind)
        excel_file.save(with_project)
    with zipfile.ZipFile(with_project) as package:
        vba_bin = package.read("xl/vbaProject.bin")
    final = tmp_path / "old.xlsm"
    build._write_workbook(final, vba_bin)
    return final.read_bytes()


def test_committed_workbook_breaks_no_rule_of_the_spec():
    assert violations(build.WORKBOOK_PATH.read_bytes(), sources()) == []


def test_the_checks_fail_on_a_workbook_built_the_old_way(tmp_path):
    found = "\n".join(violations(old_way_workbook(tmp_path), sources()))
    assert "_VBA_PROJECT is 2544 bytes" in found or "not the minimal CC 61 FF FF" in found
    assert "PROJECTCOOKIE is 0x" in found
    assert "bytes after the dir terminator" in found
    assert "JsonObject: attributes" in found


def test_the_project_id_follows_the_sources(tmp_path):
    def project_id(vba_dir):
        out = build.build(tmp_path / f"{vba_dir.name}.xlsm", vba_dir)
        with zipfile.ZipFile(out) as package:
            import io

            import olefile

            ole = olefile.OleFileIO(io.BytesIO(package.read("xl/vbaProject.bin")))
            return ole.openstream("PROJECT").read().split(b"\r\n")[0]

    changed = tmp_path / "changed"
    shutil.copytree(build.VBA_DIR, changed)
    settings = changed / "Settings.bas"
    settings.write_bytes(settings.read_bytes() + b"' one more comment\r\n")
    committed = project_id(build.VBA_DIR)
    assert committed == project_id(build.VBA_DIR)
    assert committed != project_id(changed)
    assert committed != b'ID="{E73B243E-09A5-4CB0-B261-A37357B461D3}"'  # the old template's


@pytest.mark.parametrize(
    ("container", "text"),
    [
        # §3.2: the spec's example of a container with one compressed chunk
        (
            bytes.fromhex(
                "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 "
                "6B 6C 00 30 6D 6E 6F 70 06 71 02 70 04 10 72 73 74 75 76 10 77 78 79 7A 00 3C"
            ),
            b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa",
        ),
    ],
)
def test_reader_decompresses_the_examples_of_the_spec(container, text):
    assert decompress(container) == text


def test_writer_round_trips_through_the_reader():
    from excel.vbaproject import compress

    samples = [b"", b"a", bytes(range(256)) * 20, b"abc" * 5000, (b"x\r\n" * 1500) + b"tail"]
    for sample in samples:
        assert decompress(compress(sample)) == sample


def _conditional_blocks(source: str) -> list[tuple[int, str, bool]]:
    """(line number, code line, whether it sits inside an ``#If VBA7`` branch)."""
    result = []
    stack: list[bool] = []
    for number, line in enumerate(source.split("\r\n"), start=1):
        code = line.split("'", 1)[0].strip()
        lowered = code.lower()
        if lowered.startswith("#if "):
            stack.append("vba7" in lowered and "not" not in lowered)
        elif lowered.startswith("#else"):
            stack[-1] = False
        elif lowered.startswith("#end if"):
            stack.pop()
        elif code:
            result.append((number, code, any(stack)))
    return result


def test_every_declare_and_pointer_sized_call_sits_under_if_vba7():
    for path in sorted(build.VBA_DIR.iterdir()):
        source = path.read_bytes().decode("utf-8")
        lines = _conditional_blocks(source)
        declared = {
            m.group(1).lower()
            for _, code, _ in lines
            if (m := re.search(r"\bDeclare\s+(?:PtrSafe\s+)?(?:Function|Sub)\s+(\w+)", code))
        }
        for number, code, guarded in lines:
            uses_pointer = re.search(r"\b(LongPtr|Declare)\b", code, re.IGNORECASE)
            calls = [name for name in declared if re.search(rf"\b{name}\b", code, re.IGNORECASE)]
            if uses_pointer or calls:
                assert guarded, f"{path.name}:{number} outside #If VBA7: {code}"
            if re.search(r"\bDeclare\b", code):
                assert "PtrSafe" in code, f"{path.name}:{number} Declare without PtrSafe"


def test_no_module_is_named_after_an_excel_class():
    # Classes of Excel's object model (hidden ones included) a module name could shadow.
    excel_classes = {
        "application", "buttons", "button", "workbook", "worksheet", "range", "sheets",
        "names", "name", "shapes", "charts", "dialogs", "menus", "toolbars", "drawings",
        "checkboxes", "optionbuttons", "listboxes", "dropdowns", "labels", "textboxes",
    }  # fmt: skip
    names = {path.stem.lower() for path in build.VBA_DIR.iterdir()}
    assert not names & excel_classes


def test_settings_address_is_text_not_a_hyperlink():
    with zipfile.ZipFile(build.WORKBOOK_PATH) as package:
        workbook_xml = package.read("xl/workbook.xml").decode()
        sheet_ids = re.findall(r'<sheet name="([^"]+)" sheetId="(\d+)"', workbook_xml)
        index = [name for name, _ in sheet_ids].index("Settings") + 1
        sheet_xml = package.read(f"xl/worksheets/sheet{index}.xml").decode()
        strings = package.read("xl/sharedStrings.xml").decode()
        assert "<hyperlink" not in sheet_xml
        assert not any("hyperlink" in member for member in package.namelist())
        cell = re.search(r'<c r="B3"[^>]*t="s"[^>]*><v>(\d+)</v>', sheet_xml)
        assert cell, "Settings!B3 is not a shared string"
        texts = re.findall(r"<t[^>]*>([^<]*)</t>", strings)
        assert texts[int(cell.group(1))] == build.DEFAULT_API_URL
