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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from creditscorer.errors import ModelNotTrainedError, UnknownModelError
from creditscorer.files import atomic_write, utc_now
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
    atomic_write(model_folder / POINTER, (version + "\n").encode("ascii"))


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
        # Plain text paths: on the hot path (a stat per request, one per model for
        # /health) pathlib's joins cost more than the system calls themselves.
        self._root_text = os.fspath(self.root)
        self._pointers: dict[str, str] = {}  # names seen to exist -> their pointer path
        self._listed: tuple[int, list[str]] | None = None  # see _listing

    def names(self) -> list[str]:
        """Models that have a current version, sorted."""
        root = self._root_text
        try:
            entries = os.listdir(root)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(
            name
            for name in entries
            if valid_model_name(name) and os.path.isfile(os.path.join(root, name, POINTER))
        )

    def _listing(self) -> list[str]:
        """The valid model folder names under the root, sorted (folders with no pointer too).

        Kept while the root's modification time stays what it was when listed, once that
        time is a second old: a folder added or removed changes it, and the second covers
        file systems whose time stamps are coarser than the changes. A pointer that
        appears in a listed folder is found by ``get``'s own stat.
        """
        try:
            stamp = os.stat(self._root_text).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return []
        cached = self._listed
        if cached is not None and cached[0] == stamp:
            return cached[1]
        names = sorted(n for n in os.listdir(self._root_text) if valid_model_name(n))
        if time.time_ns() - stamp > 1_000_000_000:
            self._listed = (stamp, names)
        return names

    def live(self) -> dict[str, Model]:
        """Every model that has a current version, by name (sorted): a stat per model."""
        models: dict[str, Model] = {}
        for name in self._listing():
            try:
                models[name] = self.get(name)
            except UnknownModelError:  # a folder without a pointer (yet)
                continue
        return models

    def get(self, name: str) -> Model:
        """The live version of a model; reloads it when the pointer has changed.

        One ``stat`` of the pointer per call: it tells a missing model (or one whose folder
        was removed) and a changed pointer alike.
        """
        pointer = self._pointers.get(name)
        if pointer is None:
            if not valid_model_name(name):
                raise UnknownModelError(name, self.names())
            pointer = os.path.join(self._root_text, name, POINTER)
        try:
            st = os.stat(pointer)
        except (FileNotFoundError, NotADirectoryError):
            self._entries.pop(name, None)
            self._pointers.pop(name, None)
            raise UnknownModelError(name, self.names()) from None
        self._pointers[name] = pointer  # only names that exist: the map stays small
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        entry = self._entries.get(name)
        if entry is not None and entry.stamp == stamp:
            return entry.model
        folder = self.root / name
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


# Pointer history: rollback needs to know which version was live before the current one.
# ``HISTORY`` next to ``CURRENT`` is a tab-separated log of every pointer switch made by
# the server (time, action, version, note). Replaying it gives a stack of live versions:
# ``promote`` and ``adopt`` push, ``rollback`` pops, so a rollback undoes the most recent
# promotion that has not been undone yet, and repeated rollbacks walk further back.
# Callers hold ``pointer_lock`` around read-modify-write sequences; the file is rewritten
# whole to a temporary file and renamed, so a reader never sees a half-written history.

HISTORY = "HISTORY"
PUSH_ACTIONS = ("promote", "adopt")
POP_ACTION = "rollback"


@dataclass(frozen=True)
class HistoryEntry:
    """One pointer switch: when (UTC, ISO 8601), what kind, the version made live, a note."""

    time: str
    action: str
    version: str
    note: str = ""


class NothingToRollBack(Exception):
    """The history holds no earlier version to go back to."""


@contextmanager
def pointer_lock(model_folder: Path) -> Iterator[None]:
    """Exclusive lock on a model's pointer and history, across threads and processes."""
    model_folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(model_folder / ".pointer.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        lock_fd(fd, blocking=True)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def lock_fd(fd: int, blocking: bool) -> bool:
    """Lock ``fd`` exclusively (flock on POSIX, msvcrt on Windows); False when busy."""
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def read_history(model_folder: Path) -> list[HistoryEntry]:
    """Every recorded pointer switch, oldest first (empty when none was recorded)."""
    try:
        text = (model_folder / HISTORY).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            entries.append(HistoryEntry(parts[0], parts[1], parts[2], "\t".join(parts[3:])))
    return entries


def live_stack(entries: list[HistoryEntry]) -> list[str]:
    """Replay the history: the versions that a run of rollbacks would make live, last on top."""
    stack: list[str] = []
    for entry in entries:
        if entry.action in PUSH_ACTIONS:
            stack.append(entry.version)
        elif entry.action == POP_ACTION:
            # A rollback pops the undone version; its entry names the version made live.
            if stack:
                stack.pop()
            if not stack or stack[-1] != entry.version:
                stack.append(entry.version)
    return stack


def _append_history(model_folder: Path, entries: list[HistoryEntry]) -> None:
    old = (model_folder / HISTORY).read_bytes() if (model_folder / HISTORY).exists() else b""
    new = "".join(
        f"{e.time}\t{e.action}\t{e.version}\t{e.note.replace(chr(9), ' ').replace(chr(10), ' ')}\n"
        for e in entries
    ).encode("utf-8")
    atomic_write(model_folder / HISTORY, old + new)


def _current_or_none(model_folder: Path) -> str | None:
    try:
        return read_pointer(model_folder)
    except ModelNotTrainedError:
        return None


def _adopted(model_folder: Path, current: str | None) -> list[HistoryEntry]:
    """An ``adopt`` entry when the pointer was set outside the history (e.g. ``python -m
    training``), so that the replayed stack's top is always the live version."""
    if current is None:
        return []
    stack = live_stack(read_history(model_folder))
    if stack and stack[-1] == current:
        return []
    return [
        HistoryEntry(utc_now("microseconds"), "adopt", current, "pointer set outside the history")
    ]


def promote_version(model_folder: Path, version: str, note: str = "") -> str | None:
    """Make ``version`` live and record it; return the version it replaced.

    Call with ``pointer_lock(model_folder)`` held. The pointer is switched first and the
    history written second, so a crash in between leaves a history that the next switch
    repairs with an ``adopt`` entry instead of one that names a version never made live.
    """
    previous = _current_or_none(model_folder)
    adopt = _adopted(model_folder, previous)
    write_pointer(model_folder, version)
    switched_at = utc_now(
        "microseconds"
    )  # after the switch: the old version was live until at most now
    _append_history(model_folder, [*adopt, HistoryEntry(switched_at, "promote", version, note)])
    return previous


def roll_back(model_folder: Path, note: str = "") -> tuple[str, str]:
    """Undo the most recent promotion still in effect; return (version left, version restored).

    Call with ``pointer_lock(model_folder)`` held. Raises ``NothingToRollBack`` when the
    live version is the oldest one the history knows.
    """
    current = read_pointer(model_folder)
    adopt = _adopted(model_folder, current)
    stack = live_stack([*read_history(model_folder), *adopt])
    if len(stack) < 2:
        raise NothingToRollBack(f"{current} is the oldest version in the history")
    target = stack[-2]
    write_pointer(model_folder, target)
    switched_at = utc_now("microseconds")
    _append_history(model_folder, [*adopt, HistoryEntry(switched_at, POP_ACTION, target, note)])
    return current, target
