"""Render ``/dashboard`` in headless Chromium after a load run: ``docs/img/dashboard.png``.

    python bench/dashboard_screenshot.py [--out docs/img/dashboard.png]

Trains quick models into a temporary folder, starts gunicorn (2 workers) on 127.0.0.1
with a new SQLite query log, sends a bounded load (the load test's mix, then a batch of
older applicants so that the drift panel has something to show), and screenshots the page
with Debian's ``chromium``. The functions are reused by ``tests/test_dashboard.py``.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import orjson

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def chromium() -> str | None:
    """Debian's chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    browser = chromium()
    if browser is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="creditscorer-chromium-") as profile:
        return subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            timeout=timeout,
            check=False,
        )


def screenshot(url: str, out: Path, width: int = 1280, height: int = 1050, timeout: float = 90):
    """Save a PNG of ``url`` as Chromium renders it."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    done = _run_chromium(
        [f"--window-size={width},{height}", f"--screenshot={out}", url], timeout=timeout
    )
    if not out.is_file():
        message = done.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"chromium wrote no screenshot:\n{message}")
    return out


def dump_dom(url: str, timeout: float = 90) -> str:
    """The DOM after Chromium has loaded ``url``."""
    done = _run_chromium(["--dump-dom", url], timeout=timeout)
    return done.stdout.decode("utf-8", errors="replace")


def png_summary(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the pixel data): a blank page has very few."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    pixels = bytearray()
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            pixels += data[position + 8 : position + 8 + length]
        position += 12 + length
    return width, height, len(set(zlib.decompress(bytes(pixels))))


def _post(url: str, path: str, body: dict) -> None:
    parts = http.client.urlsplit(url)  # type: ignore[attr-defined]
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", path, orjson.dumps(body), {"Content-Type": "application/json"})
        connection.getresponse().read()
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "img" / "dashboard.png")
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(PROJECT_ROOT))
    sys.path.insert(0, str(PROJECT_ROOT / "bench"))
    import load_test

    from training import train_all

    with tempfile.TemporaryDirectory(prefix="creditscorer-dashboard-") as tmp:
        model_dir = Path(tmp) / "models"
        train_all(model_dir, quick=True)
        url = f"sqlite:///{Path(tmp) / 'querylog.sqlite3'}"
        with load_test.gunicorn_server(load_test.server_env(model_dir, url), workers=2) as server:
            report = load_test.run_load(server.url, total=args.requests, concurrency=16)
            older = [[24 + k % 12, 2000 + 50 * k, 68 + k % 6] for k in range(300)]
            _post(
                server.url,
                "/v1/predict/batch",
                {"model": "forest", "columns": ["duration", "amount", "age"], "rows": older},
            )
            out = screenshot(f"{server.url}/dashboard?hours=1", args.out)
        print(f"{len(report.results)} requests, {len(report.failed)} failed; screenshot {out}")
        print("png width, height, distinct bytes:", png_summary(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
