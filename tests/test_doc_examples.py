"""Every curl example in README.md and docs/*.md, run with curl against a real server.

An example passes when it answers below 400 and, where the page shows its reply (a
```json block right after it, or the output under a ``$ curl`` line), every key the page
shows is in the real reply, and a CSV reply's header line is the one shown: a renamed or
dropped field fails here. Examples that need a
shell variable (an admin key in ``$K``) are left out; they are listed by
``test_the_examples_are_found``.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import Workbook
from support import PROJECT_ROOT, require_part

PAGES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"```(sh|bash|console|shell)\n(.*?)```(?:\s*```(?:json|csv|text)?\n(.*?)```)?", re.S
)
ADDRESS = re.compile(r"https?://(?:127\.0\.0\.1|localhost):5000")
KEY = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:')
APPLICANTS = [["id", "duration", "amount", "age"], ["A-1", 24, 4000, 35], ["A-2", 48, 12000, 23]]


@dataclass
class Example:
    page: str
    line: int
    command: str
    shown: str  # the reply the page shows ("" when it shows none)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _examples() -> tuple[list[Example], list[Example]]:
    runnable, left_out = [], []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            start = text.count("\n", 0, match.start(2)) + 1
            lines = match.group(2).replace("\\\n", " ").splitlines()
            for offset, line in enumerate(lines):
                command = line.strip().removeprefix("$ ")
                if not command.startswith("curl "):
                    continue
                shown = match.group(3) or ""
                if line.strip().startswith("$ "):  # a console block: output follows the command
                    rest = []
                    for after in lines[offset + 1 :]:
                        if after.startswith("$ "):
                            break
                        rest.append(after)
                    shown = "\n".join(rest)
                elif offset != len(lines) - 1:
                    shown = ""  # a reply shown after a block belongs to its last command
                example = Example(
                    page.relative_to(PROJECT_ROOT).as_posix(), start + offset, command, shown
                )
                (left_out if "$" in command else runnable).append(example)
    return runnable, left_out


RUNNABLE, LEFT_OUT = _examples()


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """The files the examples send, in the folder they run in."""
    folder = tmp_path_factory.mktemp("examples")
    with open(folder / "applicants.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(APPLICANTS)
    workbook = Workbook()
    for row in APPLICANTS:
        workbook.active.append(row)
    workbook.save(folder / "applicants.xlsx")
    return folder


def test_the_examples_are_found():
    pages = {e.page for e in RUNNABLE}
    assert "README.md" in pages
    assert len(RUNNABLE) >= 8, [e.id for e in RUNNABLE]
    assert all(e.command.count("$") for e in LEFT_OUT)


@pytest.mark.parametrize("example", RUNNABLE, ids=[e.id for e in RUNNABLE])
def test_a_documented_curl_example_answers_as_shown(example: Example, live_server, files):
    curl = shutil.which("curl")
    require_part(curl is not None, "curl")
    argv = shlex.split(ADDRESS.sub(live_server.url, example.command))
    assert argv[0] == "curl"
    body = files / f"reply-{example.line}"
    argv = [curl, *argv[1:], "-sS", "-o", str(body), "-w", "%{http_code} %{content_type}"]
    done = subprocess.run(argv, cwd=files, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    status, _, content_type = done.stdout.partition(" ")
    reply = body.read_bytes()
    assert int(status) < 400, f"{example.id}: {status} {reply[:300]!r}"
    if "json" in content_type:
        actual = _keys(json.loads(reply))
        missing = set(KEY.findall(example.shown)) - actual
        assert not missing, f"{example.id} shows keys the reply does not have: {sorted(missing)}"
    elif content_type.startswith("text/csv") and example.shown:
        # the header line exactly as the page shows it, and the same columns
        assert reply.decode("utf-8").splitlines()[0] == example.shown.splitlines()[0]
