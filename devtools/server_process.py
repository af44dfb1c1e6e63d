"""Run a server as a child process on 127.0.0.1 and wait for its address.

Shared by the tests, the benchmarks and the sheet renderer. ``start_server`` runs
``python -m server``, which prints ``CreditScorer listening on http://HOST:PORT`` once it
serves (``--port 0`` picks a free port); ``start_process`` runs any command and asks a
``ready`` function of the output so far for the address (gunicorn's "Listening at:").
The output is read to the end by a thread so that a chatty server can never block on a
full pipe, and ``stop_process`` ends a server and whatever workers it left behind.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


@dataclass
class ServerProcess:
    """A real server process on 127.0.0.1 (a random free port) and what it printed."""

    url: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def stop(self, timeout: float = 10.0) -> None:
        stop_process(self.process, timeout)
        if self.reader is not None:
            self.reader.join(timeout=timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def worker_pids(self) -> list[int]:
        """The server's live child processes (gunicorn's or granian's workers), from /proc;
        empty for a single process or where /proc is not there."""
        return worker_pids(self.process.pid)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=kwargs.pop("timeout", 60), **kwargs)


def worker_pids(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux's /proc); empty when it cannot be read."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the live processes ``pids`` (Linux's /proc/<pid>/stat);
    a process that has gone counts nothing."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; then end the process group, for the workers
    (granian's, gunicorn's) that share it and outlived their master, so that none keeps a
    port or a database file open. Needs the process started with ``start_new_session``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def train_quick_models(model_dir: Path, timeout: float = 600.0) -> Path:
    """Train the built-in models with the quick grids into ``model_dir`` (``python -m
    training --quick``), for a tool that needs a model store and was given none."""
    subprocess.run(
        [sys.executable, "-m", "training", "--out", str(model_dir), "--quick"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    return model_dir


def listening_url(output: list[str]) -> str | None:
    """The address ``python -m server`` prints once it serves, or None before that."""
    if output and "listening on " in output[-1]:
        return output[-1].split("listening on ", 1)[1].split()[0]
    return None


def start_server(env: dict[str, str], args: list[str] | None = None) -> ServerProcess:
    """Start ``python -m server`` as a child process and wait until it prints its address."""
    command = [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0"]
    return start_process([*command, *(args or [])], env, listening_url, name="the server")


def start_process(
    command: list[str],
    env: dict[str, str],
    ready: Callable[[list[str]], str | None],
    *,
    name: str,
    timeout: float = START_TIMEOUT,
) -> ServerProcess:
    """Start ``command`` in the project folder, in its own process group, with ``env`` over
    this process's environment; after each line it prints, ``ready(lines so far)`` gives
    its URL once it serves. A process that exits or takes longer than ``timeout`` is
    stopped, and RuntimeError carries what ``name`` printed."""
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=hasattr(os, "killpg"),  # its own process group, for stop_process
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
    server = ServerProcess(url="", process=process, output=output, reader=reader)
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        url = ready(seen)
        if url is not None:
            server.url = url
            return server
    server.stop()
    raise RuntimeError(f"{name} did not start:\n" + "".join(output))
