"""Database failures an operator can act on: which ones mean "try again later", and why.

A database that cannot be reached or written (PostgreSQL stopped or restarting, a
SQLite file made read-only, a full disk) is not a bug in a request: the reply is a 503
with ``Retry-After``, and the log says in one line what the database refused, instead of
a stack trace per request. Under load the same cause would fill the log with one line
per request, so ``OutageLog`` writes a line when the cause changes and then at most one
per interval with the count of the failures in between, and one line when the database
works again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_OPENED_READ_ONLY = "creditscorer.opened_read_only"  # in a pooled connection's info
RETRY_AFTER_S = 5  # what a client is told to wait before it sends the request again
_SQLITE_OUTAGES = (
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_IOERR",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_PROTOCOL",
)
# What libpq says when it cannot reach the server; its messages run over several lines.
_CONNECTION_CAUSES = (
    ("Connection refused", "the database is unreachable{where}: connection refused"),
    ("the database system is shutting down", "the PostgreSQL server{where} is shutting down"),
    ("the database system is starting up", "the PostgreSQL server{where} is starting up"),
    ("not yet accepting connections", "the PostgreSQL server{where} is starting up"),
    ("in recovery mode", "the PostgreSQL server{where} is recovering after a crash"),
    (
        "server closed the connection unexpectedly",
        "the PostgreSQL server{where} closed the connection (stopped or restarted)",
    ),
    ("timeout expired", "the database is unreachable{where}: the connection timed out"),
)
_SQLSTATE_CAUSES = {
    "53100": "the PostgreSQL server{where} has a full disk",
    "53200": "the PostgreSQL server{where} is out of memory",
    "53300": "the PostgreSQL server{where} has too many connections",
    "25006": "the database{where} is read-only (a standby, or default_transaction_read_only)",
    "57P01": "the PostgreSQL server{where} is shutting down",
    "57P02": "the PostgreSQL server{where} is restarting after a crash",
    "57P03": "the PostgreSQL server{where} is starting or shutting down",
}


def is_unavailable(error: BaseException) -> bool:
    """True when the database cannot serve now (down, read-only, full, locked): a 503.

    Programming errors (a wrong statement, a missing column) are not among them: they stay
    a 500 with a stack trace in the log, because no retry will fix them.
    """
    # SQLite's driver calls nearly every error "operational", a missing table or a syntax
    # error (SQLITE_ERROR) too: its result code tells the outages from the bugs.
    name = str(getattr(getattr(error, "orig", None), "sqlite_errorname", "") or "")
    if name:
        return name.startswith(_SQLITE_OUTAGES)
    if isinstance(error, sa.exc.OperationalError | sa.exc.TimeoutError | sa.exc.DisconnectionError):
        return True
    return isinstance(error, sa.exc.DBAPIError) and bool(error.connection_invalidated)


def replace_broken_sqlite_connections(engine: Engine) -> None:
    """Drop a SQLite connection from the pool once it met a read-only or unreadable file.

    SQLite opens a file it may not write read-only, and the connection stays read-only
    after the file is writable again; pooled, it would fail a request now and then long
    after the fault was fixed. So a connection opened while the files could not be written
    is replaced when it is next taken from the pool once they can, and one that fails with
    a read-only or I/O error is marked as a disconnect (only that one is dropped): the
    server recovers by itself.
    """
    path = _sqlite_path(engine)
    if path is not None:

        @sa.event.listens_for(engine, "connect")
        def _note_read_only(_dbapi_connection: Any, record: Any) -> None:
            record.info[_OPENED_READ_ONLY] = not _writable(path)

        @sa.event.listens_for(engine, "checkout")
        def _replace_if_writable_now(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            if record.info.get(_OPENED_READ_ONLY) and _writable(path):
                raise sa.exc.DisconnectionError("opened read-only; the file is writable again")

    @sa.event.listens_for(engine, "handle_error")
    def _replace(context: sa.engine.ExceptionContext) -> None:
        name = str(getattr(context.original_exception, "sqlite_errorname", "") or "")
        if name.startswith(("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")):
            context.is_disconnect = True
            context.invalidate_pool_on_disconnect = False


def _sqlite_path(engine: Engine | None) -> Path | None:
    if engine is None or engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    return Path(database) if database and database != ":memory:" else None


def _writable(path: Path) -> bool:
    """Whether this process may write the database's files (the immutable flag and a
    read-only mount count too, for root as well)."""
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
    existing = [f for f in files if f.exists()]
    return all(os.access(f, os.W_OK) for f in existing) and os.access(path.parent, os.W_OK)


def _disk_free(path: Path) -> int | None:
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def describe(error: BaseException, engine: Engine | None = None) -> str:
    """One line that names the cause: "the database is read-only (...)", "the disk is full ..."."""
    original = getattr(error, "orig", None) or error
    message = " ".join(str(original).split())[:200] or type(original).__name__
    try:
        return _cause(error, original, message, engine)
    except Exception:  # naming the cause must never turn the 503 into a 500
        return message


def _cause(error: BaseException, original: BaseException, message: str, engine: Any) -> str:
    name = str(getattr(original, "sqlite_errorname", "") or "")
    path = _sqlite_path(engine)
    if name:
        where = f" ({path})" if path is not None else ""
        if name.startswith("SQLITE_FULL"):
            if path is not None and _disk_free(path) == 0:
                return f"the disk is full: no space left for the database{where} [{name}]"
            return (
                f"the database is full: SQLite could not grow it{where}, though its disk "
                f"has room (a size limit such as max_page_count?) [{name}]"
            )
        if name.startswith("SQLITE_READONLY") or (
            name.startswith("SQLITE_IOERR") and path is not None and not _writable(path)
        ):
            return f"the database is read-only: its file cannot be written{where} [{name}]"
        if name.startswith("SQLITE_IOERR"):
            return f"the database file could not be written or read{where}: {message} [{name}]"
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return f"the database stayed locked past the busy timeout{where} [{name}]"
        if name.startswith("SQLITE_CANTOPEN"):
            return f"the database file cannot be opened{where} [{name}]"
        return f"SQLite refused: {message}{where} [{name}]"
    sqlstate = str(getattr(original, "sqlstate", "") or "")
    if sqlstate in _SQLSTATE_CAUSES:
        return f"{_SQLSTATE_CAUSES[sqlstate].format(where=_where(engine))} [{sqlstate}]"
    if isinstance(error, sa.exc.TimeoutError):
        return f"no database connection was free in time: {message}"
    if is_unavailable(error):
        for pattern, cause in _CONNECTION_CAUSES:
            if pattern in message:
                return cause.format(where=_where(engine))
        return f"the database is unreachable{_where(engine)}: {message}"
    return message


def _where(engine: Engine | None) -> str:
    url = engine.url if engine is not None else None
    if url is None or not url.host:
        return ""
    return f" at {url.host}:{url.port}" if url.port else f" at {url.host}"


class OutageLog:
    """Logs a database outage in a few lines: a line per cause and interval, not per request.

    ``failed(cause, request_id)`` for every failure; ``succeeded()`` after every success
    (cheap when nothing failed), which logs the recovery once.
    """

    def __init__(self, log: logging.Logger, part: str, what: str, interval_s: float = 10.0):
        self.log = log
        self.part = part  # "query log": what the lines begin with
        self.what = what  # "row not written, reply withheld with 503": what each failure did
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._failures = 0  # since the last success
        self._unreported = 0  # since the last line
        self._next_line: dict[str, float] = {}  # per cause: no line about it before then

    def failed(self, cause: str, request_id: object) -> None:
        """Record one failure; log it if the cause is new or the interval has passed.

        The bracketed error code at the end of a cause does not make it a new one: a
        read-only file is SQLITE_IOERR_WRITE on an open connection, SQLITE_READONLY on a
        new one, and the two alternate under load.
        """
        kind = cause.split(" [", 1)[0]
        with self._lock:
            self._failures += 1
            now = time.monotonic()
            if now < self._next_line.get(kind, 0.0):
                self._unreported += 1
                return
            more, self._unreported = self._unreported, 0
            self._next_line[kind] = now + self.interval_s
        since = f"; {more} more failed since the last line" if more else ""
        self.log.error("%s: %s: %s (request %s%s)", self.part, self.what, cause, request_id, since)

    def succeeded(self) -> None:
        """Record a success; logs once that the database works again after failures."""
        if not self._failures:
            return
        with self._lock:
            failures, self._failures, self._unreported = self._failures, 0, 0
            self._next_line.clear()
        if failures:
            plural = "" if failures == 1 else "s"
            self.log.warning(
                "%s: the database works again after %d failure%s", self.part, failures, plural
            )
