"""Helpers for the workbook tests: the committed workbook, its modules, its buttons."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from excel.build import BUTTONS, NAMED_CELLS, SHEETS, VBA_DIR, WORKBOOK_PATH

__all__ = [
    "BUTTONS",
    "NAMED_CELLS",
    "SHEETS",
    "VBA_DIR",
    "WORKBOOK_PATH",
    "public_subs",
    "source_modules",
    "vml_buttons",
]

_VML_NS = {
    "v": "urn:schemas-microsoft-com:vml",
    "x": "urn:schemas-microsoft-com:office:excel",
}


def source_modules() -> dict[str, str]:
    """Module name -> source text (CRLF) of every ``.bas``/``.cls`` in excel/vba/."""
    return {
        path.stem: path.read_bytes().decode("utf-8")
        for path in sorted(VBA_DIR.iterdir())
        if path.suffix in (".bas", ".cls")
    }


def public_subs(source: str) -> set[str]:
    """Names of the argument-less ``Public Sub``s of a module (what a button can run)."""
    return set(re.findall(r"(?im)^Public Sub (\w+)\(\)\s*$", source))


def vml_buttons(workbook: Path, vml_part: str) -> list[dict[str, str]]:
    """The form buttons in one VML drawing part: caption and bound macro."""
    with zipfile.ZipFile(workbook) as package:
        root = ElementTree.fromstring(package.read(vml_part))  # noqa: S314 - our own build
    buttons = []
    for shape in root.iter("{urn:schemas-microsoft-com:vml}shape"):
        data = shape.find("x:ClientData", _VML_NS)
        if data is None or data.get("ObjectType") != "Button":
            continue
        macro = data.findtext("x:FmlaMacro", default="", namespaces=_VML_NS)
        textbox = shape.find("v:textbox", _VML_NS)
        caption = "".join(textbox.itertext()).strip() if textbox is not None else ""
        buttons.append({"macro": macro.removeprefix("[0]!"), "caption": caption})
    return buttons
