"""Writing files so that a reader sees the old content or the new one, never half of it."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace ``path`` with ``data``: a temporary file in the same folder, then a rename.

    ``durable`` also flushes the bytes to disk before the rename, so a crash right after
    leaves the old file or the complete new one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write(path, (json.dumps(value, indent=2) + "\n").encode("utf-8"))


def utc_now(timespec: str = "seconds") -> str:
    """The current UTC time in ISO 8601 with a Z, to the second (or ``timespec``)."""
    return datetime.now(tz=UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
