"""The model store: versioned model folders and an atomic "current version" pointer.

Layout under the store's root::

    <root>/<model name>/<version>/card.json, model.onnx, model.joblib
    <root>/<model name>/CURRENT          # the live version's folder name

A version folder is complete before anything points at it; promotion replaces
``CURRENT`` with ``os.replace`` (atomic on POSIX and Windows), so a reader sees the
old version or the new one, never a half-written model. Every process that holds a
``ModelStore`` notices the change on its next ``get`` (one ``stat`` per call) and loads
the new version without a restart.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from creditscorer.errors import ModelNotTrainedError, UnknownModelError
from creditscorer.scoring import Model

POINTER = "CURRENT"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")


def default_model_dir() -> Path:
    """``CREDITSCORER_MODEL_DIR``, else ``instance/models`` in the project folder."""
    configured = os.environ.get("CREDITSCORER_MODEL_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "instance" / "models"


def valid_model_name(name: str) -> bool:
    return bool(_NAME.match(name))


def write_pointer(model_folder: Path, version: str) -> None:
    """Point ``model_folder/CURRENT`` at ``version`` atomically."""
    if not _VERSION.match(version) or not (model_folder / version).is_dir():
        raise ValueError(f"{model_folder}: no version folder {version!r}")
    fd, tmp = tempfile.mkstemp(prefix=".CURRENT.", dir=model_folder)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(version + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, model_folder / POINTER)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_pointer(model_folder: Path) -> str:
    try:
        version = (model_folder / POINTER).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ModelNotTrainedError(f"{model_folder}: no current version") from None
    if not _VERSION.match(version):
        raise ModelNotTrainedError(f"{model_folder}: the pointer holds no valid version")
    return version


@dataclass
class _Entry:
    stamp: tuple[int, int, int]
    model: Model


class ModelStore:
    """Loads the current version of each model under ``root`` and follows pointer changes."""

    def __init__(self, root: Path | str, threads: int = 1):
        self.root = Path(root)
        self.threads = threads
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Models that have a current version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if valid_model_name(p.name) and (p / POINTER).is_file()
        )

    def versions(self, name: str) -> list[str]:
        """Every complete version folder of a model, oldest first (names sort by time)."""
        folder = self._folder(name)
        return sorted(p.name for p in folder.iterdir() if (p / "card.json").is_file())

    def _folder(self, name: str) -> Path:
        folder = self.root / name
        if not valid_model_name(name) or not (folder / POINTER).is_file():
            raise UnknownModelError(name, self.names())
        return folder

    def get(self, name: str) -> Model:
        """The live version of a model; reloads it when the pointer has changed."""
        folder = self._folder(name)
        try:
            st = os.stat(folder / POINTER)
        except FileNotFoundError:
            raise UnknownModelError(name, self.names()) from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        entry = self._entries.get(name)
        if entry is not None and entry.stamp == stamp:
            return entry.model
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry.stamp == stamp:
                return entry.model
            version = read_pointer(folder)
            model = Model.load(folder / version, threads=self.threads)
            self._entries[name] = _Entry(stamp, model)
            return model

    def load_all(self) -> dict[str, Model]:
        """Load every model now (at start-up), so a broken artifact fails early."""
        return {name: self.get(name) for name in self.names()}
