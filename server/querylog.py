"""The query log: one database row for every scoring request, written before the reply leaves.

Every request to the scoring routes (``/v1/predict`` and ``/v1/predict/batch``), whether
it was answered with scores or with an error, gets exactly one row: time, request id,
route, model and version, row count, inputs (unless ``CREDITSCORER_LOG_INPUTS=0``:
they are personal data), outputs, status, latency and the API key's id.

The scoring views hand what they scored to the log as one value, a ``ScoringRecord``
(the model, the request's inputs, the validated matrix, the result, the row count): each
view is wrapped by ``logs_scoring``, which gives it an empty record to fill, turns whatever
the view returns or raises into the reply, and writes the row before that reply leaves. A
request refused before its view runs (a missing API key) is logged by one fallback
``after_request`` hook. The write is synchronous, so a reply is sent only once its row is
committed. A buffered writer would make a score a little cheaper, but a worker that
is killed (SIGKILL, OOM killer, a host failure) loses its buffer, and with it the record
of decisions that clients already hold; a credit decision without its audit row is the
one failure this log exists to prevent. The write costs a fraction of a millisecond on
SQLite in WAL mode (see ``bench/bench_querylog.py``). If the row cannot be written, the
reply is withheld and the client gets a 503 it can retry: no score leaves unlogged.
What the write can share is the commit: the rows of requests that threads of one process
write at the same moment go to the database in one transaction, and each thread waits for
the commit that holds its own row (``server.logwriter``; ``CREDITSCORER_LOG_GROUP_COMMIT=0``
commits each row alone).

Besides the raw inputs and outputs, each row holds a small ``summary`` (how many rows fell
in each score bin and in each training-decile bin of every feature) and the approve and
decline counts, so that statistics and drift never need the personal data and stay fast,
and ``body_sha256``, the digest of the request body as received.

A big batch's inputs and outputs (together above ``CREDITSCORER_LOG_DETAIL_BYTES``, 64 KiB)
do not go into its row: they are compressed (zstd) into a ``query_log_detail`` row whose
key the main row names, inserted in the same transaction; ``read_detail`` reads them back.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
import zstandard
from flask import Flask, Response, current_app, g, request
from flask.typing import ResponseReturnValue
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from creditscorer.scoring import BatchResult, Model, SingleResult
from server import db, dberrors, drift
from server.logwriter import GroupCommitter, RowInserter
from server.problems import PROBLEM_JSON, problem

log = logging.getLogger("creditscorer.querylog")

SCORING_ENDPOINTS = {"api.predict", "api.predict_batch"}
PURGE_INTERVAL_S = 3600.0  # how often each process looks for expired rows
PURGE_CHUNK = 5000  # rows deleted per statement, so that a purge never holds a long lock
# Detail rows are big (a 100,000-row batch is about 1.3 MB compressed) and deleting one
# frees every page of it: 100 per statement keeps a purge's statement as short as 5,000
# main rows'.
PURGE_DETAIL_CHUNK = 100
DETAIL_ENCODING = "zstd+json"  # a zstd frame of {"inputs": …, "outputs": …}
# Level 1: on a 100,000-row batch (4 MB of JSON) 9 ms and 3.0x, against zlib's 39 ms and
# 2.7x at its fastest level (see docs/performance.md); the floats of the scores are what
# keeps any codec near 3x, so a higher level buys almost nothing.
_ZSTD_LEVEL = 1
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: an alias of the rowid
_SYNCHRONOUS_COMMIT = "creditscorer.querylog.synchronous_commit"  # per pooled connection
_Entry = tuple[dict[str, Any], dict[str, Any] | None]  # a log row and its side-table row
_outage = dberrors.OutageLog(log, "query log", "row not written, reply withheld with 503")

query_log = sa.Table(
    "query_log",
    db.metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),  # UTC, when the request arrived
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("route", sa.String(64), nullable=False),  # "POST /v1/predict/batch"
    sa.Column("model", sa.String(64)),  # None when the request failed before a model was chosen
    sa.Column("model_version", sa.String(128)),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),  # rows in the request (1 for a single)
    sa.Column("rows_failed", sa.Integer, nullable=False),  # rows answered with a row error
    sa.Column("approved", sa.Integer, nullable=False),
    sa.Column("declined", sa.Integer, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),  # request arrival to reply ready
    sa.Column("key_id", sa.String(64)),
    sa.Column("inputs", sa.Text),  # JSON; None when CREDITSCORER_LOG_INPUTS is off
    sa.Column("outputs", sa.Text),  # JSON: the scores and decisions, or the problem reply
    sa.Column("summary", sa.Text),  # JSON: score and feature bin counts for the statistics
    sa.Column("body_sha256", sa.String(64)),  # hex digest of the request body as received
    sa.Column("detail_key", sa.String(32)),  # the query_log_detail row holding inputs/outputs
    # One index, chosen for the write path as much as for reads: every index costs each
    # insert another page in the WAL. Statistics, totals and the retention purge all read a
    # time window, and the index covers every column they read, so a window is one range
    # scan that never touches the wide rows (inputs, outputs). Looking a request id up is
    # a scan (about a second at a million rows), which is fine for an occasional audit.
    sa.Index(
        "ix_query_log_window",
        "created_at",
        "model",
        "status",
        "latency_ms",
        "row_count",
        "rows_failed",
        "approved",
        "declined",
        "model_version",
        "summary",
    ),
)


# A big batch's inputs and outputs, compressed, one row per request, out of the main table
# so that the log's pages stay small. ``detail_key`` is made by the app (uuid4 hex) and
# stored in both rows, so the insert needs no RETURNING; ``created_at`` is the main row's,
# so the retention purge removes both together. No foreign key: it would only order the
# inserts and the purge, and cost every insert a lookup.
query_log_detail = sa.Table(
    "query_log_detail",
    db.metadata,
    sa.Column("detail_key", sa.String(32), primary_key=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),  # the same as the main row's
    sa.Column("encoding", sa.String(32), nullable=False),  # how ``data`` is written
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Index("ix_query_log_detail_created_at", "created_at"),
)


@dataclass
class ScoringRecord:
    """What a scoring view scored, handed to the log as one value.

    A view fills it as it goes, so that a request that fails half-way (a bad field after
    the model was chosen) is still logged with what was known: ``model`` once the model
    is chosen, ``inputs`` once the request is parsed (a single record as sent, or a batch's
    columns), ``result`` once scored. ``SingleResult.X`` and ``BatchResult.X`` hold the
    validated matrix the summary is computed from, so the log never validates again.
    """

    model: Model | None = None
    inputs: Any = None
    result: SingleResult | BatchResult | None = None
    rows: int = 0
    body_sha256: str | None = None  # of the request body as received; None without a body


def utcnow() -> datetime:
    """Naive UTC, the way the table stores time on every database."""
    return datetime.now(UTC).replace(tzinfo=None)


class QueryLog:
    """Writes log rows and enforces the retention period for one app."""

    def __init__(
        self,
        engine: Engine,
        log_inputs: bool,
        retention_days: int,
        synchronous_commit: bool = False,
        detail_bytes: int = 64 * 1024,
        group_commit: bool = True,
        group_writers: int = 1,
    ):
        self.engine = engine
        self.log_inputs = log_inputs
        self.retention_days = retention_days
        self.detail_bytes = detail_bytes  # inputs + outputs above this go to query_log_detail
        self.enabled = True  # CREDITSCORER_QUERY_LOG: off writes nothing
        self.model_dir: Path | None = None  # retrain uploads under it follow the same period
        self._next_purge = 0.0
        self._purging = threading.Lock()
        # SQLite has one writer at a time. Threads of one process queue on this lock and
        # hand over at once; without it they would meet in SQLite's busy handler, which
        # sleeps 1, 2, 5, 10 … ms between tries. With group commit only the group's leader
        # writes, so the lock matters only when grouping is off (and for other writers).
        self._writing = threading.Lock()
        # PostgreSQL: a commit normally waits for its WAL record to reach the disk (an
        # fsync, 4-8 ms here). Without the wait a committed row still survives any worker's
        # death (the server holds it); only a crash of the database server or the machine
        # can lose the last fraction of a second, the same guarantee SQLite gives in WAL
        # mode with synchronous=NORMAL. The insert runs in autocommit (one statement is one
        # transaction: no BEGIN and COMMIT round trips), and the setting is made once per
        # pooled connection, for its session; the other users of the shared engine only
        # read (key checks). CREDITSCORER_LOG_SYNCHRONOUS_COMMIT=1 restores the wait.
        self._postgres = engine.dialect.name == "postgresql"
        self._async_commit = self._postgres and not synchronous_commit
        # Concurrent requests' rows share one transaction; each caller still returns only
        # once its own row is committed (see server.logwriter). Off: one commit per row.
        # ``group_writers`` groups may be written at once, each on its own connection (one
        # by default: measured in docs/performance.md, more paid off on neither database).
        self.writer: GroupCommitter[_Entry] = GroupCommitter(
            self._insert, group_commit, leaders=max(1, group_writers)
        )
        self._log_rows = RowInserter(query_log, engine.dialect)
        self._detail_rows = RowInserter(query_log_detail, engine.dialect)

    def write(self, row: dict[str, Any], detail: dict[str, Any] | None = None) -> None:
        """Insert a log row (and its ``query_log_detail`` row, if any, first) in one
        transaction; return once it is committed. Raises ``SQLAlchemyError`` when the
        database refuses either, and then neither is kept; ``ValueError`` for a key that is
        not a column, before anything is written.

        Rows written by other threads at the same moment may share the transaction; if it
        fails, each of their ``write`` calls raises.
        """
        self._log_rows.check(row)
        if detail is not None:
            self._detail_rows.check(detail)
        self.writer.submit((row, detail))

    def _insert(self, entries: list[_Entry]) -> None:
        """Write a group of entries in one transaction: the detail rows, then the log rows."""
        rows = [row for row, _ in entries]
        details = [detail for _, detail in entries if detail is not None]
        if not self._postgres:
            # executemany: one prepared statement for the group, in one transaction.
            with self._writing, self.engine.begin() as connection:
                if details:
                    self._detail_rows.execute(connection, details, multi_values=False)
                self._log_rows.execute(connection, rows, multi_values=False)
            return
        # One multi-row INSERT per table: no per-row round trip.
        statements = self._log_rows.statements(rows, multi_values=True)
        if details:
            statements = self._detail_rows.statements(details, multi_values=True) + statements
        wanted = "off" if self._async_commit else "on"
        with self.engine.connect() as pooled:
            info = pooled.connection.info
            stale = info.get(_SYNCHRONOUS_COMMIT) != wanted
            if len(statements) == 1:
                # One statement is its own transaction in autocommit, without the BEGIN and
                # COMMIT round trips: the common case, a group of log rows alone.
                connection = pooled.execution_options(isolation_level="AUTOCOMMIT")
                if stale:
                    connection.exec_driver_sql(f"SET synchronous_commit TO {wanted}")
                    info[_SYNCHRONOUS_COMMIT] = wanted
                connection.exec_driver_sql(*statements[0])
                return
            # Several statements (a side table's rows too) need one real transaction: all
            # of them or none. A setting made inside it holds for the session once it
            # commits, and for its own commit.
            with pooled.begin():
                if stale:
                    pooled.exec_driver_sql(f"SET synchronous_commit TO {wanted}")
                for sql, parameters in statements:
                    pooled.exec_driver_sql(sql, parameters)
            if stale:
                info[_SYNCHRONOUS_COMMIT] = wanted

    def purge_expired(
        self,
        now: datetime | None = None,
        chunk: int = PURGE_CHUNK,
        detail_chunk: int = PURGE_DETAIL_CHUNK,
    ) -> int:
        """Delete up to ``chunk`` log rows and ``detail_chunk`` detail rows older than the
        retention period; return how many rows were deleted in all."""
        return sum(self._purge(now, chunk, detail_chunk))

    def _purge(self, now: datetime | None, chunk: int, detail_chunk: int) -> tuple[int, int]:
        if self.retention_days <= 0:
            return 0, 0
        cutoff = (now or utcnow()) - timedelta(days=self.retention_days)
        # No ORDER BY: the window index finds the oldest rows at once, even in a big table
        # where none has expired (ordering by id would scan the table under the write lock).
        # The main rows go first, so a row never names a detail row that is already gone.
        expired = sa.select(query_log.c.id).where(query_log.c.created_at < cutoff).limit(chunk)
        with self.engine.begin() as connection:
            result = connection.execute(sa.delete(query_log).where(query_log.c.id.in_(expired)))
            rows = int(result.rowcount or 0)
        detail = query_log_detail.c
        expired = sa.select(detail.detail_key).where(detail.created_at < cutoff).limit(detail_chunk)
        with self.engine.begin() as connection:
            result = connection.execute(
                sa.delete(query_log_detail).where(detail.detail_key.in_(expired))
            )
            details = int(result.rowcount or 0)
        return rows, details

    def maybe_purge(self) -> None:
        """Called after a reply has been sent: purge now and then, never two threads at once."""
        if self.retention_days <= 0 or time.monotonic() < self._next_purge:
            return
        if not self._purging.acquire(blocking=False):
            return
        try:
            rows, details = self._purge(None, PURGE_CHUNK, PURGE_DETAIL_CHUNK)
            if self.model_dir is not None:
                try:
                    purge_expired_uploads(self.model_dir, self.retention_days)
                except OSError:
                    log.exception("retention: could not purge retrain uploads; will retry")
            # A full chunk means more are waiting: come back soon rather than in an hour.
            full = rows >= PURGE_CHUNK or details >= PURGE_DETAIL_CHUNK
            self._next_purge = time.monotonic() + (1.0 if full else PURGE_INTERVAL_S)
            if rows or details:
                log.info(
                    "query log: deleted %d rows and %d detail rows older than %d days",
                    rows,
                    details,
                    self.retention_days,
                )
        except SQLAlchemyError:
            self._next_purge = time.monotonic() + 60.0
            log.exception("query log: the retention purge failed; will retry")
        finally:
            self._purging.release()


def purge_expired_uploads(model_dir: Path, retention_days: int, now: float | None = None) -> int:
    """Delete retrain job folders (``<model>/.jobs/<id>/``) older than the retention period.

    The uploaded training data in them is personal data, like the log's inputs, so it
    follows ``CREDITSCORER_LOG_RETENTION_DAYS``. A folder's age is its job file's last
    change (written again when the job ends); a job still running is never touched.
    Returns how many folders were deleted.
    """
    from server import retrain

    if retention_days <= 0:
        return 0
    cutoff = (now if now is not None else time.time()) - retention_days * 86400.0
    deleted = 0
    for job_dir in Path(model_dir).glob(f"*/{retrain.JOBS_DIR}/*"):
        if not job_dir.is_dir():
            continue
        marker = job_dir / retrain.JOB_FILE
        try:
            changed = (marker if marker.exists() else job_dir).stat().st_mtime
        except OSError:
            continue
        name = job_dir.parent.parent.name
        if changed >= cutoff or retrain._running(Path(model_dir), name, job_dir.name):
            continue
        shutil.rmtree(job_dir, ignore_errors=True)
        deleted += 1
        log.info("retention: deleted retrain job %s of %s (its uploaded data)", job_dir.name, name)
    return deleted


def init_app(app: Flask) -> None:
    """Make the app's query log and register its hooks (its table is created with the others)."""
    settings = app.extensions["creditscorer.settings"]
    querylog = QueryLog(
        app.extensions["creditscorer.db"],
        settings.log_inputs,
        settings.log_retention_days,
        settings.log_synchronous_commit,
        settings.log_detail_bytes,
        settings.log_group_commit,
        settings.log_group_writers,
    )
    querylog.enabled = settings.query_log
    querylog.model_dir = app.extensions["creditscorer.store"].root
    app.extensions["creditscorer.querylog"] = querylog
    if not settings.query_log:
        return

    def _start_clock() -> None:
        g.querylog_started = time.perf_counter()
        g.querylog_arrived = utcnow()

    # The clock starts before every other hook, whichever registered first: latency is
    # counted from the request's arrival, key check included.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_clock)

    @app.after_request
    def _log_refused_request(response: Response) -> Response:
        # A scoring request whose view never ran (refused by the key check) still gets its
        # row; one whose view ran was logged by ``logs_scoring`` already.
        if request.endpoint not in SCORING_ENDPOINTS or g.get("querylog_written"):
            return response
        return _write(querylog, ScoringRecord(), response)


def logs_scoring(view: Callable[[ScoringRecord], ResponseReturnValue]) -> Callable[[], Response]:
    """Wrap a scoring view: it fills the ``ScoringRecord`` it is given, the log writes its row.

    The reply (the view's own, or the error reply for what it raised) is made here and
    leaves only once its row is committed; if the row cannot be written, a 503 replaces it.
    """

    @functools.wraps(view)
    def logged(**kwargs: Any) -> Response:
        querylog = querylog_of()
        scoring = g.querylog_record = ScoringRecord()  # readable by current_record()
        try:
            scoring.body_sha256 = _body_sha256()
            reply = view(scoring, **kwargs)
        except Exception as error:  # rendered by the app's error handlers, then logged
            reply = current_app.handle_user_exception(error)
        response = current_app.make_response(reply)
        if not querylog.enabled:
            return response
        return _write(querylog, scoring, response)

    return logged


def _body_sha256() -> str | None:
    """The hex sha256 of the request body (kept for the view, which then reads no stream).

    About 0.7 ms for the 1.3 MB body of a 100,000-row JSON batch and under a microsecond
    for a single score's, so every scoring request with a body gets one.
    """
    body = request.get_data(cache=True)
    return hashlib.sha256(body).hexdigest() if body else None


def current_record() -> ScoringRecord | None:
    """The record of the scoring request being served, for other observers (metrics)."""
    return g.get("querylog_record")


def _write(querylog: QueryLog, scoring: ScoringRecord, response: Response) -> Response:
    """Write the row of ``response``; return it, or the 503 that replaces it."""
    g.querylog_written = True
    detail = None
    try:
        row = _row(scoring, response, querylog.log_inputs)
        detail = _move_detail(row, querylog.detail_bytes)
    except Exception:  # a bug here must not cost the audit row: keep the essentials
        log.exception("query log: could not describe request %s", g.get("request_id"))
        row = _essentials(scoring, response)
    try:
        querylog.write(row, detail)
    except SQLAlchemyError as error:
        if not dberrors.is_unavailable(error):  # a bug, not an outage: keep its stack trace
            log.exception("query log: could not write the row of request %s", g.get("request_id"))
        else:  # one line naming the cause, not a stack trace per request
            _outage.failed(dberrors.describe(error, querylog.engine), g.get("request_id"))
        return _withheld(response)
    _outage.succeeded()
    response.call_on_close(querylog.maybe_purge)
    return response


def _withheld(response: Response) -> Response:
    """The reply that replaces one whose log row could not be written."""
    replacement = problem(
        503,
        "the reply was withheld because the query log could not be written; try again shortly",
    )
    # Whatever other hooks added (request id, CORS, caching), made before or after this.
    for header, value in response.headers.items():
        if header.lower() not in ("content-type", "content-length", "x-model-version"):
            replacement.headers[header] = value
    replacement.headers["Retry-After"] = str(dberrors.RETRY_AFTER_S)
    return replacement


def _essentials(scoring: ScoringRecord, response: Response) -> dict[str, Any]:
    model = scoring.model
    started = g.get("querylog_started")
    return {
        "created_at": g.get("querylog_arrived") or utcnow(),
        "request_id": str(g.get("request_id") or ""),
        "route": f"{request.method} {request.path}"[:64],
        "model": model.name if model is not None else None,
        "model_version": model.version if model is not None else None,
        "status": response.status_code,
        "row_count": int(scoring.rows),
        "rows_failed": 0,
        "approved": 0,
        "declined": 0,
        "latency_ms": (time.perf_counter() - started) * 1000.0 if started else 0.0,
        "key_id": _key_id(),
        "inputs": None,
        "outputs": None,
        "summary": None,
        "body_sha256": scoring.body_sha256,
        "detail_key": None,
    }


def _key_id() -> str | None:
    key_id = g.get("key_id")
    return None if key_id is None else str(key_id)[:64]


def _dumps(value: Any) -> str:
    return _dumpb(value).decode()


def _dumpb(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY)


def _move_detail(row: dict[str, Any], limit: int) -> dict[str, Any] | None:
    """Above ``limit`` bytes, move the row's inputs and outputs into a detail row; return it.

    ``row`` holds them as JSON bytes (from ``_row``); what stays inline becomes text.
    """
    inputs, outputs = row["inputs"], row["outputs"]
    if len(inputs or b"") + len(outputs or b"") <= limit:
        row["inputs"] = None if inputs is None else inputs.decode()
        row["outputs"] = None if outputs is None else outputs.decode()
        return None
    document = b'{"inputs":%b,"outputs":%b}' % (inputs or b"null", outputs or b"null")
    key = row["detail_key"] = uuid.uuid4().hex
    row["inputs"] = row["outputs"] = None
    return {
        "detail_key": key,
        "created_at": row["created_at"],
        "encoding": DETAIL_ENCODING,
        "data": zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(document),
    }


def read_detail(engine: Engine, detail_key: str) -> dict[str, Any] | None:
    """The inputs and outputs of a logged request kept in ``query_log_detail``.

    Returns ``{"inputs": …, "outputs": …}`` as the main row would have held them (inputs
    ``None`` when they were not logged), or ``None`` when there is no such detail row
    (a wrong key, or one deleted by the retention purge).
    """
    detail = query_log_detail.c
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(detail.encoding, detail.data).where(detail.detail_key == detail_key)
        ).first()
    if found is None:
        return None
    if found.encoding != DETAIL_ENCODING:
        raise ValueError(f"query_log_detail.encoding: {found.encoding!r} is not {DETAIL_ENCODING}")
    return orjson.loads(zstandard.ZstdDecompressor().decompress(found.data))


def _row(scoring: ScoringRecord, response: Response, log_inputs: bool) -> dict[str, Any]:
    """The log row of a request, its ``inputs`` and ``outputs`` as JSON bytes."""
    row = _essentials(scoring, response)
    model, inputs, result = scoring.model, scoring.inputs, scoring.result
    features = model.card.feature_names if model is not None else []
    if isinstance(result, SingleResult) and model is not None:
        row.update(_single(model, result))
    elif isinstance(result, BatchResult) and model is not None:
        row.update(_batch(model, result))
    elif response.mimetype == PROBLEM_JSON:
        body = orjson.loads(response.get_data())
        row["outputs"] = _dumpb({k: body.get(k) for k in ("title", "detail", "errors")})
    if log_inputs and inputs is not None:
        if isinstance(result, BatchResult):
            columns = {name: _column(inputs[name]) for name in features if name in inputs}
            row["inputs"] = _dumpb(columns)
        elif isinstance(inputs, dict):
            shown = features or sorted(inputs)
            row["inputs"] = _dumpb({name: inputs.get(name) for name in shown})
    return row


def _column(values: Any) -> Any:
    """A batch's input column as orjson writes it fastest, the same JSON either way.

    JSON bodies give lists or tuples (written as they are); columnar bodies (CSV, Arrow,
    Parquet) give NumPy arrays: integer, boolean and float64 ones are written by orjson in C
    (NaN as null, as a list would be); the rest as the lists ``tolist()`` makes: orjson
    would hand an object (text) array to ``default``, and would write a float32 as its
    shortest text (0.1) rather than the float64 the model was given (0.10000000149011612).
    """
    if isinstance(values, np.ndarray):
        native = values.dtype.kind in "biu" or values.dtype == np.float64
        return values if native else values.tolist()
    return values if isinstance(values, list | tuple) else list(values)


def _summary(model: Model, X: np.ndarray, probabilities: np.ndarray) -> str:
    """Bin counts of the scored rows: score histogram and, per feature, training deciles."""
    scores = np.bincount(drift.score_bins(probabilities), minlength=drift.SCORE_BINS)
    summary: dict[str, Any] = {"score": _sparse(scores)}
    reference = drift.reference_for(model)
    if reference is not None:
        summary["features"] = {
            feature.name: _sparse(
                np.bincount(feature.bins(X[:, j]), minlength=len(feature.edges) + 1)
            )
            for j, feature in enumerate(reference.features)
        }
    return _dumps(summary)


def _sparse(counts: np.ndarray) -> list[list[int]]:
    return [[int(i), int(counts[i])] for i in np.flatnonzero(counts)]


def _single_summary(model: Model, result: SingleResult) -> str:
    """``_summary`` for one row, in plain Python: a single score is the hot path."""
    summary: dict[str, Any] = {"score": [[drift.score_bin(result.probability_default), 1]]}
    reference = drift.reference_for(model)
    if reference is not None and result.X is not None:
        x = result.X[0].tolist()
        summary["features"] = {
            feature.name: [[feature.bin_of(x[j]), 1]]
            for j, feature in enumerate(reference.features)
        }
    return _dumps(summary)


def _single(model: Model, result: SingleResult) -> dict[str, Any]:
    declined = result.decision == "decline"
    return {
        "row_count": 1,
        "approved": 0 if declined else 1,
        "declined": 1 if declined else 0,
        "outputs": _dumpb(
            {
                "probability_default": result.probability_default,
                "decision": result.decision,
                "warnings": result.warnings,
            }
        ),
        "summary": _single_summary(model, result),
    }


def _batch(model: Model, result: BatchResult) -> dict[str, Any]:
    probability = result.probability_default
    scored = ~np.isnan(probability)
    decisions = result.decision[scored]
    declined = int(np.count_nonzero(decisions == "decline"))
    return {
        "row_count": result.n_rows,
        "rows_failed": len(result.errors),
        "approved": int(decisions.shape[0]) - declined,
        "declined": declined,
        "outputs": _dumpb(
            {
                # The float array as it is: orjson writes NumPy arrays in C, and a row's
                # NaN (a row error) as null, the same text as a list with None in it.
                "probability_default": probability,
                "decision": result.decision.tolist(),
                "errors": {str(i): message for i, message in sorted(result.errors.items())},
            }
        ),
        "summary": _summary(model, result.X[scored], probability[scored])
        if result.X is not None
        else None,
    }


def querylog_of(app: Flask | None = None) -> QueryLog:
    """The app's ``QueryLog`` (the current app's when none is given)."""
    return (app or current_app).extensions["creditscorer.querylog"]
