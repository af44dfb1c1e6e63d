"""Run the workbook's macros in headless LibreOffice: a driver process and its client.

LibreOffice's UNO bridge works from Debian's own ``/usr/bin/python3`` (it has the ``uno``
module), not from the project's virtual environment. So this file has two halves:

- ``python3 devtools/lo_driver.py serve`` (under ``/usr/bin/python3``) starts ``soffice`` with a
  fresh profile in a temporary folder, connects to it, and then answers one JSON command
  per line on stdin with one JSON reply per line on stdout (open a workbook, set cells,
  run a macro, read cells, list buttons, save a copy).
- ``LibreOffice`` (imported from the virtual environment, by the tests and the benchmark)
  starts that process, sends it commands with a timeout on each, and on ``close()`` or any
  timeout kills the driver and its ``soffice`` so that nothing is left hanging.

No ``uno`` import happens at module level: the client half must import without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
SAVE_FILTER = "Calc MS Excel 2007 VBA XML"
CONNECT_TIMEOUT = 90.0


# --------------------------------------------------------------------------------------
# Client half (any Python)
# --------------------------------------------------------------------------------------


class LibreOfficeError(RuntimeError):
    """The driver answered with an error, died, or did not answer in time."""


def libreoffice_available() -> tuple[bool, str]:
    """Whether soffice, the system Python's ``uno`` and curl (the workbook's transport in
    LibreOffice) are here, and if not, why not."""
    if shutil.which("soffice") is None:
        return False, "soffice is not installed (apt-get install libreoffice-calc)"
    if shutil.which("curl") is None:
        return False, "curl is not installed: the workbook runs it to call the API in LibreOffice"
    if not Path(SYSTEM_PYTHON).exists():
        return False, f"{SYSTEM_PYTHON} is missing (the UNO bridge needs the system Python)"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import uno"], capture_output=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        return False, "python3-uno is not installed for /usr/bin/python3"
    return True, ""


# HttpTransport.bas names them "creditscorer-" & Format$(Date, "yyyymmdd") & "-" & digits:
# the pattern leaves other creditscorer-* folders (a benchmark's, a profile) alone.
REQUEST_FOLDER_GLOB = "creditscorer-" + "[0-9]" * 8 + "-*/"


def request_folders(root: Path | None = None) -> set[Path]:
    """The private folders the workbook's curl transport makes in the temporary folder
    (or ``root``), one per LibreOffice session."""
    return set((root or Path(tempfile.gettempdir())).glob(REQUEST_FOLDER_GLOB))


@contextlib.contextmanager
def removing_new_request_folders() -> Iterator[None]:
    """Remove the request folders made inside the block (the ones before it stay)."""
    before = request_folders()
    try:
        yield
    finally:
        for folder in request_folders() - before:
            shutil.rmtree(folder, ignore_errors=True)


class LibreOffice:
    """A running driver process with its own soffice; use as a context manager."""

    def __init__(self, locale: str = "en-US", startup_timeout: float = CONNECT_TIMEOUT):
        self.locale = locale
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._stderr_path: Path | None = None
        self._profile: Path | None = None

    def __enter__(self) -> LibreOffice:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the driver and wait until it has connected to its soffice."""
        handle, name = tempfile.mkstemp(prefix="lo-driver-", suffix=".log")
        os.close(handle)
        self._stderr_path = Path(name)
        # The client owns the profile folder, so it goes even when the driver is killed.
        self._profile = Path(tempfile.mkdtemp(prefix="lo-profile-"))
        command = [SYSTEM_PYTHON, str(Path(__file__).resolve()), "serve"]
        command += ["--locale", self.locale, "--profile", str(self._profile)]
        with self._stderr_path.open("w") as stderr:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                encoding="utf-8",
                start_new_session=True,  # its own process group: close() kills soffice too
            )
        threading.Thread(target=self._read_replies, daemon=True).start()
        self._wait_reply(self.startup_timeout)

    def _read_replies(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def _wait_reply(self, timeout: float) -> Any:
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            log = self.log_tail()
            self.close(graceful=False)
            raise LibreOfficeError(
                f"no answer from LibreOffice in {timeout:.0f} s\n{log}"
            ) from None
        if line is None:
            log = self.log_tail()
            self.close(graceful=False)
            raise LibreOfficeError(f"the LibreOffice driver exited\n{log}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise LibreOfficeError(reply.get("error", "unknown driver error"))
        return reply.get("result")

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the driver's stderr, for error messages."""
        if self._stderr_path is None or not self._stderr_path.exists():
            return ""
        return self._stderr_path.read_text(errors="replace")[-chars:]

    def call(self, command: str, timeout: float = 120.0, **arguments: Any) -> Any:
        """Send one command and return its result; kill everything if it takes too long."""
        if self._process is None or self._process.poll() is not None:
            raise LibreOfficeError("LibreOffice is not running")
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"cmd": command, **arguments}) + "\n")
        self._process.stdin.flush()
        return self._wait_reply(timeout)

    # Convenience wrappers, named for what a test does.
    def open(self, path: Path | str, timeout: float = 120.0) -> str:
        """Load a workbook with macros enabled; returns its handle."""
        return self.call("open", timeout=timeout, path=str(Path(path).resolve()))

    def run_macro(self, doc: str, macro: str, timeout: float = 180.0) -> Any:
        """Invoke ``Module.Proc`` of the document, as its button does."""
        return self.call("run", timeout=timeout, doc=doc, macro=macro)

    def set_cells(self, doc: str, values: dict[str, Any]) -> None:
        """Set cells given by workbook name or ``Sheet!A1``; None empties a cell."""
        self.call("set", doc=doc, values=values)

    def get_cells(self, doc: str, refs: list[str]) -> dict[str, Any]:
        """Read cells by workbook name or ``Sheet!A1``; numbers as float, else text."""
        return self.call("get", doc=doc, refs=refs)

    def get_text(self, doc: str, refs: list[str]) -> dict[str, str]:
        """Read cells as LibreOffice displays them (in its locale)."""
        return self.call("text", doc=doc, refs=refs)

    def set_range(self, doc: str, sheet: str, top_left: str, rows: list[list[Any]]) -> None:
        """Write a 2-D block of values whose top-left cell is ``top_left``."""
        self.call("set_range", doc=doc, sheet=sheet, top_left=top_left, rows=rows)

    def get_range(self, doc: str, sheet: str, address: str) -> list[list[Any]]:
        """Read a block of cells, e.g. ``A1:H1001``."""
        return self.call("get_range", doc=doc, sheet=sheet, address=address)

    def clear_range(self, doc: str, sheet: str, address: str) -> None:
        """Empty a block of cells (contents only)."""
        self.call("clear_range", doc=doc, sheet=sheet, address=address)

    def buttons(self, doc: str) -> list[dict[str, str]]:
        """Every form button: sheet, caption and the macro its click runs."""
        return self.call("buttons", doc=doc)

    def save_copy(self, doc: str, path: Path | str, timeout: float = 120.0) -> None:
        """Save a copy as .xlsm (the copy loses code names: read results from it only)."""
        self.call("save", timeout=timeout, doc=doc, path=str(Path(path).resolve()))

    def export_pdf(self, doc: str, sheet: str, address: str, path: Path | str) -> None:
        """Export one sheet's range as a one-page PDF (buttons made printable for it)."""
        self.call("export_pdf", doc=doc, sheet=sheet, address=address, path=str(path))

    def close_doc(self, doc: str) -> None:
        """Close a workbook without saving."""
        self.call("close", doc=doc)

    def close(self, graceful: bool = True) -> None:
        """Stop the driver and its soffice: asked to quit first (unless it is stuck in a
        call, graceful=False), then the whole process group is killed."""
        process, self._process = self._process, None
        if process is None:
            return
        if graceful and process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                process.stdin.flush()
                process.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None
        if self._stderr_path is not None:
            self._stderr_path.unlink(missing_ok=True)
            self._stderr_path = None


# --------------------------------------------------------------------------------------
# Driver half (runs under /usr/bin/python3 with uno)
# --------------------------------------------------------------------------------------


def _profile_settings(locale: str) -> str:
    """registrymodifications.xcu for a fresh profile: locale, macros allowed, no recovery."""
    items = (
        ("/org.openoffice.Setup/L10N", "ooSetupSystemLocale", "string", locale),
        ("/org.openoffice.Office.Common/Security/Scripting", "MacroSecurityLevel", "int", "0"),
        ("/org.openoffice.Office.Recovery/AutoSave", "Enabled", "boolean", "false"),
        ("/org.openoffice.Office.Common/Misc", "FirstRun", "boolean", "false"),
    )
    body = "".join(
        f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse" oor:type="xs:{kind}">'
        f"<value>{value}</value></prop></item>\n"
        for path, name, kind, value in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"{body}</oor:items>\n"
    )


class _Driver:
    def __init__(self, locale: str, profile: Path | None):
        import uno  # only here: the client half must import without it

        self.uno = uno
        self.owns_profile = profile is None
        self.workdir = Path(tempfile.mkdtemp(prefix="lo-profile-")) if profile is None else profile
        user = self.workdir / "user"
        user.mkdir(exist_ok=True)
        (user / "registrymodifications.xcu").write_text(_profile_settings(locale))
        self.pipe_name = f"creditscorer_{os.getpid()}"
        self.soffice = subprocess.Popen(
            [
                "soffice",
                "--headless",
                "--invisible",
                "--nologo",
                "--norestore",
                "--nodefault",
                "--nolockcheck",
                f"-env:UserInstallation={self.workdir.as_uri()}",
                f"--accept=pipe,name={self.pipe_name};urp;StarOffice.ComponentContext",
            ],
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr,
            stderr=sys.stderr,
        )
        self.context = self._connect()
        self.desktop = self.context.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", self.context
        )
        self.docs: dict[str, Any] = {}

    def _connect(self):
        local = self.uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local
        )
        deadline = time.monotonic() + CONNECT_TIMEOUT
        url = f"uno:pipe,name={self.pipe_name};urp;StarOffice.ComponentContext"
        while True:
            try:
                return resolver.resolve(url)
            except Exception:
                if self.soffice.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def _props(self, **values: Any):
        from com.sun.star.beans import PropertyValue

        props = []
        for name, value in values.items():
            prop = PropertyValue()
            prop.Name, prop.Value = name, value
            props.append(prop)
        return tuple(props)

    # -- commands ---------------------------------------------------------------------

    def cmd_open(self, path: str) -> str:
        # A killed soffice leaves its lock file, and then a headless load fails. The driver
        # works on copies of the workbook: a stale lock beside one is ours to remove.
        Path(path).with_name(f".~lock.{Path(path).name}#").unlink(missing_ok=True)
        doc = self.desktop.loadComponentFromURL(
            Path(path).as_uri(),
            "_blank",
            0,
            # Hidden=False: End(xlUp) and Names.Add need a visible (if headless) document.
            # MacroExecutionMode 4: always run, no warning.
            self._props(Hidden=False, MacroExecutionMode=4, ReadOnly=False),
        )
        if doc is None:
            raise RuntimeError(f"LibreOffice could not open {path}")
        handle = f"doc{len(self.docs) + 1}"
        self.docs[handle] = doc
        return handle

    def _cell(self, doc, ref: str):
        if "!" in ref:
            sheet_name, address = ref.rsplit("!", 1)
            sheet = doc.Sheets.getByName(sheet_name.strip("'"))
            return sheet.getCellRangeByName(address)
        named = doc.NamedRanges.getByName(ref)
        return named.getReferredCells()

    def cmd_set(self, doc: str, values: dict[str, Any]) -> None:
        document = self.docs[doc]
        for ref, value in values.items():
            cell = self._cell(document, ref)
            if value is None:
                cell.setString("")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                cell.setString(str(value))
            else:
                cell.setValue(float(value))

    def _value(self, cell) -> Any:
        kind = cell.getType().value  # EMPTY, VALUE, TEXT, FORMULA
        if kind == "EMPTY":
            return None
        if kind == "VALUE":
            return cell.getValue()
        if kind == "FORMULA":
            return cell.getString() if cell.getError() else cell.getValue()
        return cell.getString()

    def cmd_get(self, doc: str, refs: list[str]) -> dict[str, Any]:
        document = self.docs[doc]
        return {ref: self._value(self._cell(document, ref)) for ref in refs}

    def cmd_text(self, doc: str, refs: list[str]) -> dict[str, str]:
        document = self.docs[doc]
        return {ref: self._cell(document, ref).getString() for ref in refs}

    def cmd_set_range(self, doc: str, sheet: str, top_left: str, rows: list[list[Any]]) -> None:
        target = self.docs[doc].Sheets.getByName(sheet)
        if not rows:
            return
        start = target.getCellRangeByName(top_left).getCellAddress()
        block = target.getCellRangeByPosition(
            start.Column, start.Row, start.Column + len(rows[0]) - 1, start.Row + len(rows) - 1
        )
        block.setDataArray(tuple(tuple("" if v is None else v for v in row) for row in rows))

    def cmd_get_range(self, doc: str, sheet: str, address: str) -> list[list[Any]]:
        block = self.docs[doc].Sheets.getByName(sheet).getCellRangeByName(address)
        return [list(row) for row in block.getDataArray()]

    def cmd_clear_range(self, doc: str, sheet: str, address: str) -> None:
        from com.sun.star.sheet.CellFlags import DATETIME, FORMULA, STRING, VALUE

        block = self.docs[doc].Sheets.getByName(sheet).getCellRangeByName(address)
        block.clearContents(VALUE | STRING | FORMULA | DATETIME)

    def cmd_run(self, doc: str, macro: str) -> Any:
        provider = self.docs[doc].getScriptProvider()
        url = f"vnd.sun.star.script:VBAProject.{macro}?language=Basic&location=document"
        script = provider.getScript(url)
        started = time.monotonic()
        result = script.invoke((), (), ())
        value = result[0] if result else None
        if value is not None and not isinstance(value, str | int | float | bool):
            value = repr(value)
        return {"value": value, "seconds": time.monotonic() - started}

    def cmd_find_scripts(self, doc: str, macros: list[str]) -> dict[str, str]:
        """Which ``Module.Proc`` names LibreOffice can find (a module that does not compile
        in LibreOffice has none)."""
        provider = self.docs[doc].getScriptProvider()
        found = {}
        for macro in macros:
            url = f"vnd.sun.star.script:VBAProject.{macro}?language=Basic&location=document"
            try:
                provider.getScript(url)
                found[macro] = "found"
            except Exception as exc:
                found[macro] = type(exc).__name__
        return found

    def cmd_buttons(self, doc: str) -> list[dict[str, str]]:
        found = []
        sheets = self.docs[doc].Sheets
        for index in range(sheets.getCount()):
            sheet = sheets.getByIndex(index)
            forms = sheet.getDrawPage().getForms()
            for form_index in range(forms.getCount()):
                form = forms.getByIndex(form_index)
                for control_index in range(form.getCount()):
                    control = form.getByIndex(control_index)
                    events = form.getScriptEvents(control_index)
                    scripts = [e.ScriptCode for e in events if e.ScriptCode]
                    found.append(
                        {
                            "sheet": sheet.getName(),
                            "caption": getattr(control, "Label", ""),
                            "scripts": scripts,
                        }
                    )
        return found

    def cmd_export_pdf(self, doc: str, sheet: str, address: str, path: str) -> None:
        """One sheet's range as a one-page PDF the size of the range, buttons included."""
        document = self.docs[doc]
        target = document.Sheets.getByName(sheet)
        block = target.getCellRangeByName(address)
        forms = target.getDrawPage().getForms()
        for form_index in range(forms.getCount()):
            form = forms.getByIndex(form_index)
            for control_index in range(form.getCount()):
                form.getByIndex(control_index).Printable = True
        style = document.StyleFamilies.getByName("PageStyles").getByName(target.PageStyle)
        margin = 500  # 1/100 mm
        style.HeaderIsOn = False
        style.FooterIsOn = False
        style.LeftMargin = style.RightMargin = style.TopMargin = style.BottomMargin = margin
        style.Width = block.Size.Width + 2 * margin
        style.Height = block.Size.Height + 2 * margin
        style.ScaleToPagesX = 1
        style.ScaleToPagesY = 1
        style.PrintGrid = True
        # A sequence inside a property value must travel as a typed Any, through uno.invoke.
        sequence = "[]com.sun.star.beans.PropertyValue"
        filter_data = self.uno.Any(sequence, self._props(Selection=block))
        arguments = self._props(FilterName="calc_pdf_Export", FilterData=filter_data)
        self.uno.invoke(
            document, "storeToURL", (Path(path).as_uri(), self.uno.Any(sequence, arguments))
        )

    def cmd_save(self, doc: str, path: str) -> None:
        self.docs[doc].storeToURL(
            Path(path).as_uri(), self._props(FilterName=SAVE_FILTER, Overwrite=True)
        )

    def cmd_close(self, doc: str) -> None:
        self.docs.pop(doc).close(True)

    def shutdown(self) -> None:
        # Best effort on the way out: soffice may already be gone.
        for document in self.docs.values():
            with contextlib.suppress(Exception):
                document.close(True)
        with contextlib.suppress(Exception):
            self.desktop.terminate()
        try:
            self.soffice.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.soffice.kill()
        if self.owns_profile:
            shutil.rmtree(self.workdir, ignore_errors=True)


def serve(locale: str, profile: Path | None = None) -> int:
    """Driver main loop: one JSON command per stdin line, one JSON reply per stdout line."""
    out = sys.stdout
    sys.stdout = sys.stderr  # anything else printed must not corrupt the protocol
    driver = _Driver(locale, profile)
    out.write(json.dumps({"ok": True, "result": "ready"}) + "\n")
    out.flush()
    try:
        for line in sys.stdin:
            command = json.loads(line)
            name = command.pop("cmd")
            if name == "quit":
                break
            try:
                result = getattr(driver, f"cmd_{name}")(**command)
                reply = {"ok": True, "result": result}
            except Exception as exc:
                reply = {"ok": False, "error": f"{name}: {type(exc).__name__}: {exc}"}
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        driver.shutdown()
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        chosen = sys.argv[sys.argv.index("--locale") + 1] if "--locale" in sys.argv else "en-US"
        folder = (
            Path(sys.argv[sys.argv.index("--profile") + 1]) if "--profile" in sys.argv else None
        )
        sys.exit(serve(chosen, folder))
    print("usage: /usr/bin/python3 devtools/lo_driver.py serve [--locale de-DE]", file=sys.stderr)
    sys.exit(2)
