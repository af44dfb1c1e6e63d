"""An independent reader of a workbook's VBA project, written from [MS-OVBA] for the tests.

It shares no code with excel/vbaproject.py (the writer) or pyOpenVBA: olefile opens the
compound file, and the decompression (§2.4.1), the ``dir`` records (§2.3.4.2) and the data
decryption (§2.4.3.3) are decoded here. ``violations`` lists every rule a project breaks.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass, field

import olefile


def decompress(data: bytes) -> bytes:
    """MS-OVBA §2.4.1.3.1: a CompressedContainer back to its bytes."""
    if not data or data[0] != 0x01:
        raise ValueError("compressed container does not start with signature byte 0x01")
    out = bytearray()
    position = 1
    while position < len(data):
        (header,) = struct.unpack_from("<H", data, position)
        size = (header & 0x0FFF) + 3
        if (header >> 12) & 0x7 != 0b011:
            raise ValueError(f"chunk signature is not 0b011 at offset {position}")
        compressed = header >> 15
        end = min(position + size, len(data))
        position += 2
        chunk_start = len(out)
        if not compressed:
            out += data[position : position + 4096]
            position += 4096
            continue
        while position < end:
            flags = data[position]
            position += 1
            for bit in range(8):
                if position >= end:
                    break
                if not flags >> bit & 1:
                    out.append(data[position])
                    position += 1
                    continue
                (token,) = struct.unpack_from("<H", data, position)
                position += 2
                difference = len(out) - chunk_start
                bit_count = max((difference - 1).bit_length(), 4)
                length = (token & (0xFFFF >> bit_count)) + 3
                offset = (token >> (16 - bit_count)) + 1
                if offset > difference:
                    raise ValueError("copy token points before the chunk")
                for _ in range(length):
                    out.append(out[-offset])
    return bytes(out)


def decrypt(hex_text: str) -> tuple[bytes, int]:
    """MS-OVBA §2.4.3.3: the Data of an encrypted CMG/DPB/GC value, and the project key."""
    raw = bytes.fromhex(hex_text)
    seed, version_enc, key_enc = raw[0], raw[1], raw[2]
    if seed ^ version_enc != 2:
        raise ValueError("encrypted data version is not 2")
    project_key = seed ^ key_enc
    unencrypted_1, encrypted_1, encrypted_2 = project_key, key_enc, version_enc
    position = 3
    for _ in range((seed & 6) // 2):
        byte_enc = raw[position]
        byte = byte_enc ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, byte_enc, byte
        position += 1
    plain = bytearray()
    for byte_enc in raw[position:]:
        byte = byte_enc ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        plain.append(byte)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, byte_enc, byte
    (length,) = struct.unpack_from("<I", plain, 0)
    if len(plain) != 4 + length:
        raise ValueError(f"encrypted length {length} does not match {len(plain) - 4} bytes")
    return bytes(plain[4:]), project_key


@dataclass
class DirModule:
    name: str = ""
    stream_name: str = ""
    offset: int = -1
    cookie: int = -1
    type_id: int = -1


@dataclass
class DirInfo:
    syskind: int = -1
    codepage: int = -1
    project_cookie: int = -1
    modules: list[DirModule] = field(default_factory=list)
    trailing: bytes = b""
    errors: list[str] = field(default_factory=list)


class _Cursor:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def u16(self) -> int:
        (value,) = struct.unpack_from("<H", self.data, self.pos)
        self.pos += 2
        return value

    def u32(self) -> int:
        (value,) = struct.unpack_from("<I", self.data, self.pos)
        self.pos += 4
        return value

    def take(self, size: int) -> bytes:
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def peek(self) -> int:
        return struct.unpack_from("<H", self.data, self.pos)[0]


def parse_dir(data: bytes) -> DirInfo:
    """Decode the decompressed ``dir`` stream, record by record in the spec's order."""
    info = DirInfo()
    c = _Cursor(data)

    def expect(record_id: int, what: str) -> int:
        found = c.u16()
        if found != record_id:
            raise ValueError(f"{what}: record id 0x{found:04X}, spec says 0x{record_id:04X}")
        return c.u32()

    def fixed(record_id: int, what: str, size: int) -> bytes:
        got = expect(record_id, what)
        if got != size:
            raise ValueError(f"{what}: size {got}, spec says {size}")
        return c.take(size)

    def text_pair(record_id: int, reserved: int, what: str) -> str:
        text = c.take(expect(record_id, what))
        got = c.u16()
        if got != reserved:
            raise ValueError(f"{what}: reserved 0x{got:04X}, spec says 0x{reserved:04X}")
        return text.decode("latin-1"), c.take(c.u32()).decode("utf-16-le")

    info.syskind = struct.unpack("<I", fixed(0x0001, "PROJECTSYSKIND", 4))[0]
    if c.peek() == 0x004A:
        fixed(0x004A, "PROJECTCOMPATVERSION", 4)
    if struct.unpack("<I", fixed(0x0002, "PROJECTLCID", 4))[0] != 0x409:
        info.errors.append("PROJECTLCID is not 0x409")
    if struct.unpack("<I", fixed(0x0014, "PROJECTLCIDINVOKE", 4))[0] != 0x409:
        info.errors.append("PROJECTLCIDINVOKE is not 0x409")
    info.codepage = struct.unpack("<H", fixed(0x0003, "PROJECTCODEPAGE", 2))[0]
    c.take(expect(0x0004, "PROJECTNAME"))
    text_pair(0x0005, 0x0040, "PROJECTDOCSTRING")
    help_1, help_2 = text_pair(0x0006, 0x003D, "PROJECTHELPFILEPATH")
    if help_1 != help_2:
        info.errors.append("PROJECTHELPFILEPATH: HelpFile2 differs from HelpFile1")
    fixed(0x0007, "PROJECTHELPCONTEXT", 4)
    fixed(0x0008, "PROJECTLIBFLAGS", 4)
    if expect(0x0009, "PROJECTVERSION") != 4:
        info.errors.append("PROJECTVERSION: Reserved is not 4")
    c.take(6)
    text_pair(0x000C, 0x003C, "PROJECTCONSTANTS")
    while c.peek() != 0x000F:  # references
        if c.peek() == 0x0016:
            text_pair(0x0016, 0x003E, "REFERENCENAME")
        record_id = c.u16()
        if record_id not in (0x000D, 0x000E, 0x002F, 0x0033):
            raise ValueError(f"unexpected reference record 0x{record_id:04X}")
        c.take(c.u32())
        if record_id == 0x002F:  # REFERENCECONTROL has an extended part
            raise ValueError("REFERENCECONTROL is not expected in this project")
    count = struct.unpack("<H", fixed(0x000F, "PROJECTMODULES", 2))[0]
    info.project_cookie = struct.unpack("<H", fixed(0x0013, "PROJECTCOOKIE", 2))[0]
    for _ in range(count):
        module = DirModule()
        module.name = c.take(expect(0x0019, "MODULENAME")).decode("latin-1")
        if c.peek() == 0x0047:
            c.take(expect(0x0047, "MODULENAMEUNICODE"))
        module.stream_name = text_pair(0x001A, 0x0032, "MODULESTREAMNAME")[0]
        text_pair(0x001C, 0x0048, "MODULEDOCSTRING")
        module.offset = struct.unpack("<I", fixed(0x0031, "MODULEOFFSET", 4))[0]
        fixed(0x001E, "MODULEHELPCONTEXT", 4)
        module.cookie = struct.unpack("<H", fixed(0x002C, "MODULECOOKIE", 2))[0]
        module.type_id = c.u16()
        if module.type_id not in (0x0021, 0x0022) or c.u32() != 0:
            raise ValueError(f"{module.name}: MODULETYPE is not 0x0021/0x0022 with Reserved 0")
        for optional in (0x0025, 0x0028):
            if c.peek() == optional:
                c.u16()
                c.u32()
        if c.u16() != 0x002B or c.u32() != 0:
            raise ValueError(f"{module.name}: module terminator is not 0x002B, 0")
        info.modules.append(module)
    if c.u16() != 0x0010 or c.u32() != 0:
        raise ValueError("dir terminator is not 0x0010, 0")
    info.trailing = data[c.pos :]
    return info


def sheet_code_names(xlsm: bytes) -> set[str]:
    """The workbook's and every sheet's ``codeName`` in the package XML."""
    names = set()
    with zipfile.ZipFile(io.BytesIO(xlsm)) as package:
        for member in package.namelist():
            if member == "xl/workbook.xml" or re.fullmatch(r"xl/worksheets/sheet\d+\.xml", member):
                text = package.read(member).decode("utf-8")
                found = re.search(r'<(?:x:)?(?:workbookPr|sheetPr)\b[^>]*codeName="([^"]+)"', text)
                if found:
                    names.add(found.group(1))
    return names


def violations(xlsm: bytes, expected_sources: dict[str, str]) -> list[str]:
    """Every [MS-OVBA] rule (and house rule) the workbook's VBA project breaks.

    ``expected_sources`` maps each non-document module to the exact text its stream must
    decompress to."""
    problems: list[str] = []
    with zipfile.ZipFile(io.BytesIO(xlsm)) as package:
        vba_bin = package.read("xl/vbaProject.bin")
    ole = olefile.OleFileIO(io.BytesIO(vba_bin))
    vba_project = ole.openstream("VBA/_VBA_PROJECT").read()
    if vba_project != bytes.fromhex("CC61FFFF000000"):
        problems.append(
            f"_VBA_PROJECT is {len(vba_project)} bytes starting {vba_project[:4].hex()}, "
            "not the minimal CC 61 FF FF 00 00 00"
        )
    try:
        info = parse_dir(decompress(ole.openstream("VBA/dir").read()))
    except ValueError as exc:
        return [*problems, f"dir stream: {exc}"]
    problems += info.errors
    if info.project_cookie != 0xFFFF:
        problems.append(f"PROJECTCOOKIE is 0x{info.project_cookie:04X}, not 0xFFFF")
    if info.trailing:
        problems.append(f"{len(info.trailing)} bytes after the dir terminator")
    project = ole.openstream("PROJECT").read().decode(f"cp{info.codepage}")
    lines = project.split("\r\n")
    id_match = re.fullmatch(r'ID="(\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\})"', lines[0])
    if not id_match:
        problems.append(f"PROJECT does not start with an ID line: {lines[0]!r}")
    else:
        for key in ("CMG", "DPB", "GC"):
            value = re.search(rf'(?m)^{key}="([0-9A-F]+)"\r$', project)
            if not value:
                problems.append(f"PROJECT has no {key}")
                continue
            data, project_key = decrypt(value.group(1))
            if project_key != sum(id_match.group(1).encode()) & 0xFF:
                problems.append(f"{key}: project key does not match the project ID")
            wanted = {"CMG": 4, "DPB": 1, "GC": 1}[key]
            if len(data) != wanted:
                problems.append(f"{key}: {len(data)} bytes of data, expected {wanted}")
    declared = {}
    for line in lines:
        kind = re.fullmatch(r"(Document|Module|Class)=([^/]+)(/&H[0-9A-F]{8})?", line)
        if kind:
            declared[kind.group(2)] = kind.group(1)
    code_names = sheet_code_names(xlsm)
    for name, kind in declared.items():
        if kind == "Document" and name not in code_names:
            problems.append(f"Document={name} matches no sheet codeName")
    for name in code_names - {n for n, k in declared.items() if k == "Document"}:
        problems.append(f"codeName {name} has no Document= module")
    dir_names = [m.name for m in info.modules]
    if set(dir_names) != set(declared):
        problems.append(f"dir modules {sorted(dir_names)} differ from PROJECT {sorted(declared)}")
    wm = ole.openstream("PROJECTwm").read()
    wm_names = []
    position = 0
    while not wm.startswith(b"\0\0", position):
        end = wm.index(b"\0", position)
        name = wm[position:end].decode("latin-1")
        unicode_end = end + 1
        while wm[unicode_end : unicode_end + 2] != b"\0\0":
            unicode_end += 2
        if wm[end + 1 : unicode_end].decode("utf-16-le") != name:
            problems.append(f"PROJECTwm: unicode name differs for {name}")
        wm_names.append(name)
        position = unicode_end + 2
    if wm[position:] != b"\0\0":
        problems.append("PROJECTwm does not end with one 0x0000 terminator")
    if sorted(wm_names) != sorted(dir_names):
        problems.append(f"PROJECTwm lists {sorted(wm_names)}, dir has {sorted(dir_names)}")
    for module in info.modules:
        if module.cookie != 0xFFFF:
            problems.append(f"{module.name}: MODULECOOKIE is 0x{module.cookie:04X}, not 0xFFFF")
        raw = ole.openstream(f"VBA/{module.stream_name}").read()
        if module.offset != 0:
            problems.append(f"{module.name}: {module.offset} bytes of performance cache")
        text = decompress(raw[module.offset :]).decode(f"cp{info.codepage}")
        kind = declared.get(module.name)
        if (module.type_id == 0x0021) != (kind == "Module"):
            problems.append(f"{module.name}: MODULETYPE does not match PROJECT's {kind}")
        if kind in ("Class", "Document"):
            problems += _class_attribute_problems(module.name, kind, text)
        if kind != "Document" and expected_sources.get(module.name) != text:
            problems.append(f"{module.name}: stream does not decompress to its source")
    return problems


_ATTRIBUTE_ORDER = (
    "VB_Name",
    "VB_Base",
    "VB_GlobalNameSpace",
    "VB_Creatable",
    "VB_PredeclaredId",
    "VB_Exposed",
    "VB_TemplateDerived",
    "VB_Customizable",
)


def _class_attribute_problems(name: str, kind: str, text: str) -> list[str]:
    """Class and document modules carry the eight attributes Excel stores, in its order."""
    found = re.findall(r"(?m)^Attribute (VB_\w+) = (.*?)\r$", text)
    keys = tuple(key for key, _ in found)
    if keys != _ATTRIBUTE_ORDER:
        return [f"{name}: attributes {keys}, Excel stores {_ATTRIBUTE_ORDER}"]
    values = dict(found)
    problems = []
    if values["VB_Name"] != f'"{name}"':
        problems.append(f"{name}: VB_Name is {values['VB_Name']}")
    document = kind == "Document"
    for key in ("VB_PredeclaredId", "VB_Exposed", "VB_Customizable"):
        if values[key] != str(document):
            problems.append(f"{name}: {key} = {values[key]}, Excel stores {document}")
    if values["VB_TemplateDerived"] != "False":
        problems.append(f"{name}: VB_TemplateDerived = {values['VB_TemplateDerived']}")
    return problems
