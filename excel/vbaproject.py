"""Write ``xl/vbaProject.bin`` ourselves, to the letter of [MS-OVBA] and [MS-CFB].

Why not pyOpenVBA's own output: it writes a 2,544-byte ``_VBA_PROJECT`` stream with a real
VBA version and a zero "performance cache" (§2.3.4.1 says a writer MUST write Version
0xFFFF and no cache; a host whose version matches would read the zeros as compiled code),
cookies that are not 0xFFFF, four bytes after the ``dir`` terminator, the same project ID
in every workbook, and class modules without the attributes Excel stores. None of that
can be switched off, and patching its file means re-encoding every stream and re-laying
the compound file anyway, so this module writes the whole project from the sources:

- the ``PROJECT`` stream (§2.3.1) with a project ID derived from the sources (so two
  builds of the same sources are byte-identical, and different workbooks differ), and its
  CMG/DPB/GC values encrypted as §2.4.3 says, with a seed derived the same way;
- ``PROJECTwm`` (§2.3.3), ``VBA/_VBA_PROJECT`` as the seven bytes ``CC 61 FF FF 00 00 00``,
  ``VBA/dir`` (§2.3.4.2) in the spec's record order with cookies 0xFFFF and nothing after
  the terminator, and one module stream per module (no performance cache, TextOffset 0);
- the MS-OVBA compression (§2.4.1) and an MS-CFB version 3 compound file.

Pyopenvba is still used for what it does well: parsing every module before the build.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from dataclasses import dataclass

CODEPAGE = 1252
PROJECT_NAME = "VBAProject"
_STDOLE_LIBID = (
    "*\\G{00020430-0000-0000-C000-000000000046}#2.0#0#"
    "C:\\Windows\\System32\\stdole2.tlb#OLE Automation"
)
# VB_Base of Excel's document modules and of class modules, as Excel stores them.
_WORKBOOK_BASE = "0{00020819-0000-0000-C000-000000000046}"
_WORKSHEET_BASE = "0{00020820-0000-0000-C000-000000000046}"
_CLASS_BASE = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"


@dataclass(frozen=True)
class ProjectModule:
    """A module as stored in the project: kind is "standard", "class" or "document"."""

    name: str
    kind: str
    code: str  # the body after the Attribute lines, CRLF line ends


def stored_source(module: ProjectModule) -> str:
    """The module text as Excel keeps it in the module stream: attributes, then code."""
    if module.kind == "standard":
        attributes = [f'Attribute VB_Name = "{module.name}"']
    else:
        if module.kind == "class":
            base, predeclared, exposed, customizable = _CLASS_BASE, False, False, False
        elif module.name == "ThisWorkbook":
            base, predeclared, exposed, customizable = _WORKBOOK_BASE, True, True, True
        else:
            base, predeclared, exposed, customizable = _WORKSHEET_BASE, True, True, True
        attributes = [
            f'Attribute VB_Name = "{module.name}"',
            f'Attribute VB_Base = "{base}"',
            "Attribute VB_GlobalNameSpace = False",
            "Attribute VB_Creatable = False",
            f"Attribute VB_PredeclaredId = {predeclared}",
            f"Attribute VB_Exposed = {exposed}",
            "Attribute VB_TemplateDerived = False",
            f"Attribute VB_Customizable = {customizable}",
        ]
    return "\r\n".join(attributes) + "\r\n" + module.code


def module_code(source: str) -> str:
    """The code of an exported ``.bas``/``.cls`` file: without the ``VERSION``/``BEGIN``
    preamble of a class file and without its leading ``Attribute`` lines."""
    lines = source.split("\r\n")
    if lines and lines[0].upper().startswith("VERSION "):
        end = next(i for i, line in enumerate(lines) if line.strip().upper() == "END")
        lines = lines[end + 1 :]
    while lines and lines[0].startswith("Attribute VB_"):
        lines.pop(0)
    return "\r\n".join(lines)


# ----------------------------------------------------------------------------- compression


def compress(data: bytes) -> bytes:
    """MS-OVBA §2.4.1 compression: a signature byte, then chunks of up to 4,096 bytes."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 4096):
        chunk = data[start : start + 4096]
        body = _compress_chunk(chunk)
        if len(body) > 4096 and len(chunk) == 4096:
            out += struct.pack("<H", 0x3000 | 0x0FFF) + chunk  # raw chunk
            continue
        if len(body) > 4096:
            raise ValueError("a short final chunk does not compress; MS-OVBA cannot store it")
        out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
    return bytes(out)


def _copy_token_split(position: int) -> tuple[int, int]:
    """(bits for the length, largest length) at a position inside the chunk (§2.4.1.3.19.1)."""
    bit_count = max((position - 1).bit_length(), 4)
    length_bits = 16 - bit_count
    return length_bits, (1 << length_bits) - 1 + 3


def _compress_chunk(chunk: bytes) -> bytes:
    out = bytearray()
    candidates: dict[bytes, list[int]] = {}
    position = 0
    size = len(chunk)
    while position < size:
        flag_at = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if position >= size:
                break
            best_length, best_offset = 0, 0
            if position > 0 and position + 3 <= size:
                length_bits, max_length = _copy_token_split(position)
                for candidate in reversed(candidates.get(chunk[position : position + 3], [])[-64:]):
                    length = 3
                    limit = min(max_length, size - position)
                    while length < limit and chunk[candidate + length] == chunk[position + length]:
                        length += 1
                    if length > best_length:
                        best_length, best_offset = length, position - candidate
                        if length == limit:
                            break
            if best_length >= 3:
                length_bits, _ = _copy_token_split(position)
                token = ((best_offset - 1) << length_bits) | (best_length - 3)
                out += struct.pack("<H", token)
                flags |= 1 << bit
                step = best_length
            else:
                out.append(chunk[position])
                step = 1
            for index in range(position, position + step):
                if index + 3 <= size:
                    candidates.setdefault(chunk[index : index + 3], []).append(index)
            position += step
        out[flag_at] = flags
    return bytes(out)


# ----------------------------------------------------------------------------- PROJECT


def project_id(modules: list[ProjectModule]) -> str:
    """A GUID derived from every module's name, kind and text: stable per content."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(f"{module.kind}\0{module.name}\0{module.code}\0".encode())
    return "{" + str(uuid.UUID(bytes=digest.digest()[:16], version=4)).upper() + "}"


def encrypt(data: bytes, project_id_text: str, seed: int) -> str:
    """MS-OVBA §2.4.3.2 data encryption, as the hex text the PROJECT stream holds."""
    version = 2
    project_key = sum(project_id_text.encode("ascii")) & 0xFF
    out = bytearray([seed, seed ^ version, seed ^ project_key])
    unencrypted_1 = project_key
    encrypted_1 = out[2]
    encrypted_2 = out[1]
    ignored_length = (seed & 6) // 2
    for index in range(ignored_length):
        temp = (seed + index) & 0xFF
        byte_enc = temp ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        out.append(byte_enc)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, byte_enc, temp
    for byte in struct.pack("<I", len(data)) + data:
        byte_enc = byte ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        out.append(byte_enc)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, byte_enc, byte
    return out.hex().upper()


def project_stream(modules: list[ProjectModule], id_text: str) -> bytes:
    """The PROJECT stream (§2.3.1): module list, name, protection, host extender, workspace."""
    seed_base = hashlib.sha256(id_text.encode()).digest()
    lines = [f'ID="{id_text}"']
    for module in modules:
        keyword = {"document": "Document", "class": "Class", "standard": "Module"}[module.kind]
        suffix = "/&H00000000" if module.kind == "document" else ""
        lines.append(f"{keyword}={module.name}{suffix}")
    lines += [
        f'Name="{PROJECT_NAME}"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        f'CMG="{encrypt(bytes(4), id_text, seed_base[0])}"',
        f'DPB="{encrypt(bytes(1), id_text, seed_base[1])}"',
        f'GC="{encrypt(bytes([0xFF]), id_text, seed_base[2])}"',
        "",
        "[Host Extender Info]",
        "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000",
        "",
        "[Workspace]",
    ]
    lines += [f"{module.name}=0, 0, 0, 0, C" for module in modules]
    return ("\r\n".join(lines) + "\r\n").encode(f"cp{CODEPAGE}")


def projectwm_stream(modules: list[ProjectModule]) -> bytes:
    """PROJECTwm (§2.3.3): each module name in MBCS and UTF-16, then a 0x0000 terminator."""
    out = bytearray()
    for module in modules:
        out += module.name.encode(f"cp{CODEPAGE}") + b"\0"
        out += module.name.encode("utf-16-le") + b"\0\0"
    return bytes(out + b"\0\0")


# ----------------------------------------------------------------------------- dir


def _record(record_id: int, payload: bytes) -> bytes:
    return struct.pack("<HI", record_id, len(payload)) + payload


def _text_pair(record_id: int, text: str, unicode_id: int) -> bytes:
    """A record whose MBCS text is followed by a reserved id and the UTF-16 text."""
    return _record(record_id, text.encode(f"cp{CODEPAGE}")) + _record(
        unicode_id, text.encode("utf-16-le")
    )


def dir_stream(modules: list[ProjectModule]) -> bytes:
    """The decompressed ``dir`` stream (§2.3.4.2): information, references, modules."""
    out = bytearray()
    out += _record(0x0001, struct.pack("<I", 3))  # PROJECTSYSKIND: 64-bit Windows
    out += _record(0x0002, struct.pack("<I", 0x0409))  # PROJECTLCID
    out += _record(0x0014, struct.pack("<I", 0x0409))  # PROJECTLCIDINVOKE
    out += _record(0x0003, struct.pack("<H", CODEPAGE))  # PROJECTCODEPAGE
    out += _record(0x0004, PROJECT_NAME.encode("ascii"))  # PROJECTNAME
    out += _text_pair(0x0005, "", 0x0040)  # PROJECTDOCSTRING
    out += _text_pair(0x0006, "", 0x003D)  # PROJECTHELPFILEPATH (HelpFile2 = HelpFile1)
    out += _record(0x0007, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
    out += _record(0x0008, struct.pack("<I", 0))  # PROJECTLIBFLAGS
    out += struct.pack("<HIIH", 0x0009, 4, 1, 0)  # PROJECTVERSION: Reserved 4, 1.0
    out += _text_pair(0x000C, "", 0x003C)  # PROJECTCONSTANTS
    # REFERENCENAME + REFERENCEREGISTERED for stdole, the reference every project has.
    out += _text_pair(0x0016, "stdole", 0x003E)
    libid = _STDOLE_LIBID.encode("ascii")
    registered = struct.pack("<I", len(libid)) + libid + struct.pack("<IH", 0, 0)
    out += _record(0x000D, registered)
    out += _record(0x000F, struct.pack("<H", len(modules)))  # PROJECTMODULES
    out += _record(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for module in modules:
        out += _record(0x0019, module.name.encode(f"cp{CODEPAGE}"))  # MODULENAME
        out += _record(0x0047, module.name.encode("utf-16-le"))  # MODULENAMEUNICODE
        out += _text_pair(0x001A, module.name, 0x0032)  # MODULESTREAMNAME
        out += _text_pair(0x001C, "", 0x0048)  # MODULEDOCSTRING
        out += _record(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: no performance cache
        out += _record(0x001E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        out += _record(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        type_id = 0x0021 if module.kind == "standard" else 0x0022  # MODULETYPE
        out += struct.pack("<HI", type_id, 0)
        out += struct.pack("<HI", 0x002B, 0)  # module terminator
    out += struct.pack("<HI", 0x0010, 0)  # dir terminator: nothing after it
    return bytes(out)


# ----------------------------------------------------------------------------- MS-CFB

_SECTOR = 512
_MINI = 64
_MINI_CUTOFF = 4096
_FREE, _END, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def _cfb_key(name: str) -> tuple[int, str]:
    """MS-CFB §2.6.4 order of siblings: shorter names first, then by upper-case text."""
    return (len(name.encode("utf-16-le")), name.upper())


def compound_file(streams: dict[str, bytes], storages: tuple[str, ...] = ()) -> bytes:
    """An MS-CFB version 3 file of ``streams`` (paths like ``"VBA/dir"``) and storages.

    Streams under 4,096 bytes go to the mini stream, as §2.6.3 requires; siblings form a
    balanced binary tree coloured as a valid red-black tree; times and CLSIDs are zero, so
    equal input gives equal bytes."""
    # Directory entries: index 0 is the root.
    entries = [{"name": "Root Entry", "type": 5, "children": [], "data": b""}]
    index_of = {"": 0}
    for path in sorted(set(storages) | {p.rsplit("/", 1)[0] for p in streams if "/" in p}):
        entries.append({"name": path.rsplit("/", 1)[-1], "type": 1, "children": [], "data": b""})
        index_of[path] = len(entries) - 1
        entries[index_of[path.rsplit("/", 1)[0] if "/" in path else ""]]["children"].append(
            index_of[path]
        )
    for path, data in streams.items():
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        entries.append({"name": path.rsplit("/", 1)[-1], "type": 2, "children": [], "data": data})
        entries[index_of[parent]]["children"].append(len(entries) - 1)
    for entry in entries:
        entry.update(left=_NOSTREAM, right=_NOSTREAM, child=_NOSTREAM, color=1)
    for entry in entries:
        if entry["children"]:
            ordered = sorted(entry["children"], key=lambda i: _cfb_key(entries[i]["name"]))
            entry["child"] = _balanced(ordered, entries)

    # Mini stream and regular sectors.
    mini_stream = bytearray()
    mini_fat: list[int] = []
    sectors: list[bytes] = []
    fat: list[int] = []

    def allocate(data: bytes) -> int:
        count = max(1, -(-len(data) // _SECTOR))
        first = len(sectors)
        for i in range(count):
            sectors.append(data[i * _SECTOR : (i + 1) * _SECTOR].ljust(_SECTOR, b"\0"))
            fat.append(first + i + 1 if i < count - 1 else _END)
        return first

    for entry in entries:
        data = entry["data"]
        entry["start"], entry["size"] = 0, 0
        if entry["type"] != 2:
            continue
        entry["size"] = len(data)
        if not data:
            entry["start"] = _END
        elif len(data) < _MINI_CUTOFF:
            first = len(mini_stream) // _MINI
            count = -(-len(data) // _MINI)
            mini_stream += data.ljust(count * _MINI, b"\0")
            mini_fat += [first + i + 1 if i < count - 1 else _END for i in range(count)]
            entry["start"] = first
        else:
            entry["start"] = allocate(data)
    root = entries[0]
    root["start"] = allocate(bytes(mini_stream)) if mini_stream else _END
    root["size"] = len(mini_stream)
    mini_fat_sectors = -(-len(mini_fat) * 4 // _SECTOR)
    mini_fat_start = _END
    if mini_fat:  # the last mini FAT sector is padded with free entries, not zeros
        raw = b"".join(struct.pack("<I", v) for v in mini_fat)
        raw += struct.pack("<I", _FREE) * ((mini_fat_sectors * _SECTOR - len(raw)) // 4)
        mini_fat_start = allocate(raw)
    directory = b"".join(_dir_entry(entry) for entry in entries)
    directory += _empty_dir_entry() * ((-len(entries)) % (_SECTOR // 128))
    dir_start = allocate(directory)

    # FAT sectors: enough to map every sector including themselves.
    fat_count = 1
    while (len(sectors) + fat_count) > fat_count * (_SECTOR // 4):
        fat_count += 1
    if fat_count > 109:
        raise ValueError("project too large for a header-only DIFAT")
    fat_first = len(sectors)
    fat += [_FATSECT] * fat_count
    fat += [_FREE] * (fat_count * (_SECTOR // 4) - len(fat))
    raw_fat = b"".join(struct.pack("<I", v) for v in fat)
    difat = [fat_first + i for i in range(fat_count)] + [_FREE] * (109 - fat_count)
    header = (
        bytes.fromhex("D0CF11E0A1B11AE1")
        + bytes(16)
        + struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIII", 0, fat_count, dir_start, 0, _MINI_CUTOFF)
        + struct.pack("<IIII", mini_fat_start, mini_fat_sectors, _END, 0)
        + b"".join(struct.pack("<I", v) for v in difat)
    )
    assert len(header) == _SECTOR, len(header)
    return header + b"".join(sectors) + raw_fat


def _balanced(ordered: list[int], entries: list[dict], depth: int = 0) -> int:
    """Link ``ordered`` as a balanced tree; nodes on the deepest level of an incomplete
    tree are red, every other node black, which satisfies the red-black rules."""
    height = len(ordered).bit_length() - 1  # depth of the deepest level
    full = len(ordered) == (1 << (height + 1)) - 1

    def link(items: list[int], level: int) -> int:
        if not items:
            return _NOSTREAM
        middle = len(items) // 2
        node = items[middle]
        entries[node]["left"] = link(items[:middle], level + 1)
        entries[node]["right"] = link(items[middle + 1 :], level + 1)
        entries[node]["color"] = 0 if (level == height and level > 0 and not full) else 1
        return node

    return link(ordered, depth)


def _dir_entry(entry: dict) -> bytes:
    name = entry["name"].encode("utf-16-le")
    if len(name) > 62:
        raise ValueError(f"compound file name too long: {entry['name']}")
    return (
        name.ljust(64, b"\0")
        + struct.pack("<HBB", len(name) + 2, entry["type"], entry["color"])
        + struct.pack("<III", entry["left"], entry["right"], entry["child"])
        + bytes(16 + 4 + 8 + 8)
        + struct.pack("<IQ", entry["start"], entry["size"])
    )


def _empty_dir_entry() -> bytes:
    return (
        bytes(64)
        + struct.pack("<HBB", 0, 0, 0)
        + struct.pack("<III", *[_NOSTREAM] * 3)
        + bytes(16 + 4 + 8 + 8 + 4 + 8)
    )


def vba_project_bin(modules: list[ProjectModule]) -> bytes:
    """The whole ``vbaProject.bin`` for ``modules`` (documents first, as Excel lists them)."""
    id_text = project_id(modules)
    streams = {
        "PROJECT": project_stream(modules, id_text),
        "PROJECTwm": projectwm_stream(modules),
        "VBA/_VBA_PROJECT": bytes.fromhex("CC61FFFF000000"),
        "VBA/dir": compress(dir_stream(modules)),
    }
    for module in modules:
        streams[f"VBA/{module.name}"] = compress(stored_source(module).encode(f"cp{CODEPAGE}"))
    return compound_file(streams)
