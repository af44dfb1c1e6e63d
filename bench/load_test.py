"""A bounded load test against gunicorn, and the proof that the query log keeps every reply.

Run from the project root (127.0.0.1 only; every run is bounded in requests and time)::

    python bench/load_test.py                      # 20,000 requests, concurrency 16, 2 workers
    python bench/load_test.py --concurrency 8 --database-url postgresql+psycopg://user:pw@127.0.0.1/db

It prints, from one run, side by side:

1. throughput with the query log's group commit (the default), with one commit per row
   (``CREDITSCORER_LOG_GROUP_COMMIT=0``, the behaviour before group commit) and without the
   log (``CREDITSCORER_QUERY_LOG=0``): three servers run side by side and take turns, in
   ``--rounds`` rounds, and each set-up's median round is shown with the log rows per
   commit its workers made (from ``/metrics``);
2. that the log holds exactly one row per request (request ids matched, no loss, no
   duplicates) and that no request failed;
3. the kill test: one worker gets SIGKILL in the middle of the load; the database passes
   ``PRAGMA integrity_check`` (SQLite) and every reply that reached the client has its row.

Importable: ``run_load(base_url, total, concurrency, plan)`` runs a bounded load and returns
one ``RequestResult`` per request (status, request id, model_version), for other proofs
(retraining under load) to reuse; ``gunicorn_server(...)`` starts and stops gunicorn.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run as ``python bench/load_test.py``
    sys.path.insert(0, str(PROJECT_ROOT))

from devtools.server_process import ServerProcess, cpu_seconds, start_process  # noqa: E402

GUNICORN_CONFIG = PROJECT_ROOT / "deploy" / "gunicorn.conf.py"
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a load plan and the status it should get."""

    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = None
    expected_status: int = 200
    kind: str = "single"


@dataclass
class RequestResult:
    """What happened to one request. ``status`` is None when no reply arrived."""

    index: int
    kind: str
    request_id: str
    expected_status: int
    status: int | None = None
    model_version: str | None = None
    reply_request_id: str | None = None
    error: str | None = None
    latency_s: float = 0.0
    sent_at: float = 0.0  # time.perf_counter() when the request was sent
    content_type: str | None = None
    retry_after: str | None = None  # the reply's Retry-After header (a 503's)

    @property
    def failed(self) -> bool:
        return self.status != self.expected_status or self.reply_request_id != self.request_id


@dataclass
class LoadReport:
    """Every request's result and the wall time of the run."""

    results: list[RequestResult]
    elapsed_s: float
    run_id: str
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[RequestResult]:
        return [r for r in self.results if r.failed]

    @property
    def replied(self) -> list[RequestResult]:
        return [r for r in self.results if r.status is not None]

    @property
    def throughput(self) -> float:
        return len(self.results) / self.elapsed_s if self.elapsed_s else 0.0

    def latency_ms(self, q: float) -> float:
        values = sorted(r.latency_s for r in self.replied)
        if not values:
            return float("nan")
        return 1000 * values[min(len(values) - 1, int(q * len(values)))]


def _training_applicants() -> list[tuple[int, float, int]]:
    """The shipped training rows: a load shaped like the training data shows no drift."""
    import csv

    path = PROJECT_ROOT / "training" / "data" / "german_credit.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        return [(int(r["duration"]), float(r["amount"]), int(r["age"])) for r in csv.DictReader(fh)]


APPLICANTS = _training_applicants()


def default_plan(i: int) -> PlannedRequest:
    """A mix like a team's traffic: mostly single scores, some batches, some bad requests."""
    model = ("logistic", "forest")[i % 2]
    duration, amount, age = APPLICANTS[(i * 7) % len(APPLICANTS)]
    if i % 25 == 0:  # a small table, one row of which is invalid
        picked = [APPLICANTS[(i * 7 + k) % len(APPLICANTS)] for k in range(9)]
        rows: list[list[Any]] = [[f"A-{i}-{k}", *row] for k, row in enumerate(picked)]
        rows.append([f"A-{i}-x", duration, "abc", age])
        body = {"model": model, "columns": ["id", "duration", "amount", "age"], "rows": rows}
        return PlannedRequest(
            "POST", "/v1/predict/batch", orjson.dumps(body), "application/json", kind="batch"
        )
    if i % 25 == 1:  # an invalid applicant: answered 400, and logged like any other
        body = {"model": model, "duration": duration, "amount": amount, "age": 12}
        return PlannedRequest(
            "POST", "/v1/predict", orjson.dumps(body), "application/json", 400, kind="invalid"
        )
    if i % 3 == 0:
        query = f"model={model}&duration={duration}&amount={amount}&age={age}"
        return PlannedRequest("GET", f"/v1/predict?{query}", kind="single")
    body = {"model": model, "duration": duration, "amount": amount, "age": age}
    return PlannedRequest("POST", "/v1/predict", orjson.dumps(body), "application/json")


def run_load(
    base_url: str,
    total: int = 20_000,
    concurrency: int = 16,
    plan: Callable[[int], PlannedRequest] = default_plan,
    headers: dict[str, str] | None = None,
    timeout_s: float = 30.0,
    deadline_s: float = 900.0,
    run_id: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    max_idle_s: float | None = None,
) -> LoadReport:
    """Send ``total`` requests from ``concurrency`` threads; return every request's result.

    Each request carries ``X-Request-ID: <run_id>-<index>``. A request that gets no reply
    (connection refused or reset, timeout) has ``status=None`` and its error; the thread
    then opens a new connection. No request is retried, so each index is sent once.
    The run stops early, leaving the remaining requests unsent, after ``deadline_s``.
    ``on_progress(n)`` is called after every completed request (from the worker threads).
    ``max_idle_s``: a connection idle for longer is replaced before the next request, as
    HTTP clients do, so that a plan that pauses is not refused by the server's keep-alive
    timeout (gunicorn's is 5 s) on a connection it has just closed.
    """
    parts = urlsplit(base_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the load test only talks to this machine (127.0.0.1)")
    host, port = parts.hostname, parts.port or 80
    run_id = run_id or uuid.uuid4().hex[:10]
    results: list[RequestResult | None] = [None] * total
    counter = iter(range(total))
    lock = threading.Lock()
    done = [0]
    started = time.perf_counter()
    deadline = started + deadline_s
    stopped = threading.Event()

    def work() -> None:
        connection: http.client.HTTPConnection | None = None
        last_used = 0.0
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None or stopped.is_set():
                    return
                if time.perf_counter() > deadline:
                    stopped.set()
                    return
                planned = plan(i)
                result = RequestResult(i, planned.kind, f"{run_id}-{i}", planned.expected_status)
                send_headers = {"X-Request-ID": result.request_id, **(headers or {})}
                if planned.content_type:
                    send_headers["Content-Type"] = planned.content_type
                t0 = result.sent_at = time.perf_counter()
                idle = t0 - last_used
                if connection is not None and max_idle_s is not None and idle > max_idle_s:
                    connection.close()
                    connection = None
                try:
                    if connection is None:
                        connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
                    connection.request(planned.method, planned.path, planned.body, send_headers)
                    reply = connection.getresponse()
                    data = reply.read()
                    result.status = reply.status
                    result.reply_request_id = reply.getheader("X-Request-ID")
                    result.content_type = reply.getheader("Content-Type")
                    result.retry_after = reply.getheader("Retry-After")
                    if reply.getheader("Content-Type", "").endswith("json") and data:
                        result.model_version = orjson.loads(data).get("model_version")
                    if reply.will_close:
                        connection.close()
                        connection = None
                except (OSError, http.client.HTTPException) as error:
                    result.error = f"{type(error).__name__}: {error}"
                    if connection is not None:
                        connection.close()
                    connection = None
                last_used = time.perf_counter()
                result.latency_s = last_used - t0
                results[i] = result
                with lock:
                    done[0] += 1
                    n = done[0]
                if on_progress is not None:
                    on_progress(n)
        finally:
            if connection is not None:
                connection.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=deadline_s + timeout_s + 5)
    elapsed = time.perf_counter() - started
    finished = [r for r in results if r is not None]
    return LoadReport(finished, elapsed, run_id, stopped_early=len(finished) < total)


@contextmanager
def gunicorn_server(
    env: dict[str, str], workers: int = 2, threads: int | None = None
) -> Iterator[ServerProcess]:
    """Start gunicorn with ``deploy/gunicorn.conf.py`` on a free port; stop it afterwards."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(GUNICORN_CONFIG),
        "--bind",
        "127.0.0.1:0",
        "--workers",
        str(workers),
    ]
    if threads is not None:
        command += ["--threads", str(threads)]

    def ready(output: list[str]) -> str | None:
        """The address once gunicorn listens and has booted every worker."""
        found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", "".join(output))
        booted = sum("Booting worker" in line for line in output)
        return found.group(1) if found and booted >= workers else None

    deadline = time.monotonic() + START_TIMEOUT_S
    server = start_process(
        [*command, "server.wsgi:app"], env, ready, name="gunicorn", timeout=START_TIMEOUT_S
    )
    try:
        _wait_healthy(server.url, deadline)
        yield server
    finally:
        server.stop(timeout=30.0)


def _wait_healthy(url: str, deadline: float) -> None:
    parts = urlsplit(url)
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        try:
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"{url}/health did not answer 200 in time")


@dataclass
class LogCheck:
    """How the query log's rows for one run compare with the replies the client got."""

    rows: int
    duplicates: int  # request ids with more than one row
    missing: list[str]  # replies the client received that have no row
    extra: int  # rows for requests whose reply never reached the client
    integrity: str | None  # SQLite's PRAGMA integrity_check, None on other databases


def check_log(database_url: str, report: LoadReport) -> LogCheck:
    """Match the run's request ids against the query log (and check SQLite's integrity)."""
    import sqlalchemy as sa

    from server.querylog import query_log

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            found = Counter(
                connection.execute(
                    sa.select(query_log.c.request_id).where(
                        query_log.c.request_id.like(f"{report.run_id}-%")
                    )
                ).scalars()
            )
            integrity = None
            if database_url.startswith("sqlite"):
                integrity = connection.exec_driver_sql("PRAGMA integrity_check").scalar()
    finally:
        engine.dispose()
    replied = {r.request_id for r in report.replied}
    return LogCheck(
        rows=sum(found.values()),
        duplicates=sum(1 for n in found.values() if n > 1),
        missing=sorted(replied - set(found)),
        extra=len(set(found) - replied),
        integrity=integrity,
    )


def kill_one_worker_midway(
    server: ServerProcess, total: int, at: float = 0.4
) -> Callable[[int], None]:
    """An ``on_progress`` hook that sends SIGKILL to one worker once ``at`` of the load is done."""
    fired = threading.Event()
    killed: list[int] = []

    def hook(n: int) -> None:
        if n >= total * at and not fired.is_set():
            fired.set()
            pid = server.worker_pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    hook.killed = killed  # type: ignore[attr-defined]
    return hook


def server_env(
    model_dir: Path, database_url: str, query_log: bool = True, group_commit: bool = True
) -> dict[str, str]:
    return {
        "CREDITSCORER_MODEL_DIR": str(model_dir),
        "CREDITSCORER_TRAIN_IF_MISSING": "0",
        "CREDITSCORER_DATABASE_URL": database_url,
        "CREDITSCORER_QUERY_LOG": "1" if query_log else "0",
        "CREDITSCORER_LOG_GROUP_COMMIT": "1" if group_commit else "0",
        "CREDITSCORER_LOG_LEVEL": "WARNING",
    }


def commit_rows(url: str) -> tuple[float, float]:
    """The server's ``creditscorer_log_commit_rows`` histogram: (rows, commits) so far, all
    workers together when it runs with ``PROMETHEUS_MULTIPROC_DIR``."""
    from prometheus_client.parser import text_string_to_metric_families

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    found = {"sum": 0.0, "count": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name == "creditscorer_log_commit_rows":
            for sample in family.samples:
                kind = sample.name.rsplit("_", 1)[-1]
                if kind in found:
                    found[kind] += sample.value
    return found["sum"], found["count"]


def _cpu_seconds(server: ServerProcess, database_url: str, session: str) -> tuple[float, float]:
    """CPU seconds so far of the server's workers and (PostgreSQL) of its database sessions,
    found by their ``application_name``."""
    workers = cpu_seconds(server.worker_pids())
    if database_url.startswith("sqlite"):
        return workers, 0.0
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            pids = connection.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                {"name": session},
            ).scalars()
            pids = list(pids)
    finally:
        engine.dispose()
    return workers, cpu_seconds(pids)


def _describe(label: str, report: LoadReport) -> str:
    kinds = Counter(r.kind for r in report.results)
    return (
        f"{label:<22} {len(report.results):>7,} requests in {report.elapsed_s:6.1f} s = "
        f"{report.throughput:7.0f} req/s; client latency p50 {report.latency_ms(0.5):5.1f} ms, "
        f"p99 {report.latency_ms(0.99):5.1f} ms; failed {len(report.failed)}; mix {dict(kinds)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="default: train into a temp dir"
    )
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per set-up, in turn")
    parser.add_argument("--skip-kill", action="store_true", help="leave out the SIGKILL run")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(PROJECT_ROOT))

    with tempfile.TemporaryDirectory(prefix="cs-bench-load-") as tmp:
        model_dir = args.model_dir
        if model_dir is None:
            from training import train_all

            model_dir = Path(tmp) / "models"
            train_all(model_dir, quick=True)
        url = args.database_url or f"sqlite:///{Path(tmp) / 'querylog.sqlite3'}"
        print(
            f"gunicorn {args.workers} workers (deploy/gunicorn.conf.py); client: "
            f"{args.concurrency} threads; database {url.split('@')[-1]}"
        )
        # The three set-ups run side by side, their rounds in turn (A B C, B C A, …), so
        # that the machine's other work weighs on each alike; each prints its median round.
        setups = {
            "group commit": server_env(model_dir, url, True, True),
            "one commit per row": server_env(model_dir, url, True, False),
            "without query log": server_env(model_dir, url, False),
        }
        reports: dict[str, list[LoadReport]] = {label: [] for label in setups}
        grouping: dict[str, tuple[float, float]] = {}
        per_round = max(1, args.requests // args.rounds)
        cpu: dict[str, tuple[float, float]] = {}
        with contextlib.ExitStack() as stack:
            servers = {}
            for label, env in setups.items():
                metrics_dir = Path(tmp) / f"metrics-{len(servers)}"
                metrics_dir.mkdir()
                env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
                if not url.startswith("sqlite"):  # to find its database sessions' CPU time
                    joiner = "&" if "?" in url else "?"
                    name = f"cs-load-{len(servers)}"
                    env["CREDITSCORER_DATABASE_URL"] = f"{url}{joiner}application_name={name}"
                servers[label] = stack.enter_context(gunicorn_server(env, args.workers))
                run_load(servers[label].url, total=500, concurrency=args.concurrency)  # warm-up
            sessions = {label: f"cs-load-{i}" for i, label in enumerate(servers)}
            before = {label: commit_rows(server.url) for label, server in servers.items()}
            cpu_before = {
                label: _cpu_seconds(server, url, sessions[label])
                for label, server in servers.items()
            }
            for round_ in range(args.rounds):
                order = list(setups)[round_ % 3 :] + list(setups)[: round_ % 3]
                for label in order:
                    report = run_load(servers[label].url, per_round, args.concurrency)
                    reports[label].append(report)
            for label, server in servers.items():
                rows, commits = commit_rows(server.url)
                grouping[label] = (rows - before[label][0], commits - before[label][1])
                after = _cpu_seconds(server, url, sessions[label])
                cpu[label] = (
                    after[0] - cpu_before[label][0],
                    after[1] - cpu_before[label][1],
                )
        for label, rounds in reports.items():
            median = sorted(rounds, key=lambda r: r.throughput)[len(rounds) // 2]
            rows, commits = grouping[label]
            per_commit = f"; {rows / commits:.2f} log rows per commit" if commits else ""
            print(_describe(label, median) + per_commit, flush=True)
        # CPU time per request: what the work costs, however busy the machine was.
        print("CPU time per request (all rounds; workers + their database sessions):")
        for label, (workers, database) in cpu.items():
            sent = sum(len(r.results) for r in reports[label])
            share = f" + database {1000 * database / sent:.3f} ms" if database else ""
            print(f"  {label:<22} workers {1000 * workers / sent:.3f} ms{share}")
        throughput = {
            label: statistics.median(r.throughput for r in rounds)
            for label, rounds in reports.items()
        }
        grouped, alone, off = (throughput[label] for label in setups)
        print(
            f"throughput, median of {args.rounds} rounds: group commit / one commit per row "
            f"{grouped / alone:.3f}; with / without the log: group commit {grouped / off:.3f}, "
            f"one commit per row {alone / off:.3f}"
        )
        logged = [r for label in ("group commit", "one commit per row") for r in reports[label]]
        checks = [check_log(url, report) for report in logged]
        check = LogCheck(
            rows=sum(c.rows for c in checks),
            duplicates=sum(c.duplicates for c in checks),
            missing=[m for c in checks for m in c.missing],
            extra=sum(c.extra for c in checks),
            integrity=checks[-1].integrity,
        )
        replied = sum(len(r.replied) for r in logged)
        print(
            f"log rows for the logged runs: {check.rows:,} for {replied:,} replies; "
            f"duplicates {check.duplicates}; missing {len(check.missing)}; extra {check.extra}; "
            f"integrity {check.integrity}"
        )
        failed = [r for rounds in reports.values() for report in rounds for r in report.failed]
        ok = not failed and check.rows == sum(len(r.results) for r in logged)
        ok = ok and not check.missing and not check.duplicates
        if not args.skip_kill:
            with gunicorn_server(server_env(model_dir, url), args.workers) as server:
                hook = kill_one_worker_midway(server, args.requests)
                killed = run_load(server.url, args.requests, args.concurrency, on_progress=hook)
                healthy_after = server.worker_pids()
            kcheck = check_log(url, killed)
            lost = [r for r in killed.results if r.status is None]
            why = Counter((r.error or "").split(":")[0] for r in lost)
            print(
                f"kill test: SIGKILL to worker {hook.killed} at 40 %; "  # type: ignore[attr-defined]
                f"{len(killed.replied):,} replies, {len(lost)} requests without a reply "
                f"({dict(why)}); "
                f"log rows {kcheck.rows:,}; replies without a row {len(kcheck.missing)}; "
                f"rows without a reply {kcheck.extra}; duplicates {kcheck.duplicates}; "
                f"integrity_check {kcheck.integrity}; workers after: {len(healthy_after)}"
            )
            ok = ok and not kcheck.missing and not kcheck.duplicates
            ok = ok and kcheck.integrity in (None, "ok")
        print("RESULT:", "ok" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
