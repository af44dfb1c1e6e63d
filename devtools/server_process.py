"""Run ``python -m server`` as a child process on 127.0.0.1 and wait for its address.

Shared by the tests, the benchmarks and the sheet renderer: the server prints
``CreditScorer listening on http://HOST:PORT`` once it serves (``--port 0`` picks a free
port), and its output is read to the end by a thread so that a chatty server can never
block on a full pipe.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


@dataclass
class ServerProcess:
    """A real ``python -m server`` process on 127.0.0.1 and a random free port."""

    url: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        _kill_group(self.process)
        if self.reader is not None:
            self.reader.join(timeout=timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=kwargs.pop("timeout", 60), **kwargs)


def _kill_group(process: subprocess.Popen) -> None:
    """Worker processes (granian's, gunicorn's) share the server's process group: end any
    that outlived it, so that none keeps a port or a database file open."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def start_server(env: dict[str, str], args: list[str] | None = None) -> ServerProcess:
    """Start the server as a child process and wait until it prints its address."""
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0", *(args or [])],
        cwd=PROJECT_ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=hasattr(os, "killpg"),  # its own process group, for _kill_group
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].split()[0]
            return ServerProcess(url=url, process=process, output=output, reader=reader)
    process.kill()
    process.wait(timeout=10)
    _kill_group(process)
    reader.join(timeout=10)
    if process.stdout is not None:
        process.stdout.close()
    raise RuntimeError("the server did not start:\n" + "".join(output))
