"""Fault tests: the query log's guarantee when a worker dies or the database cannot be written.

The guarantee (server/querylog.py): every scoring request has one row, committed before the
reply leaves; when the row cannot be written the client gets 503 with ``Retry-After``,
never a score without its row. Each test breaks one real part under a bounded load from
``bench/load_test.py`` against real gunicorn on 127.0.0.1:

- PostgreSQL is stopped during a load and started again: a throwaway cluster (initdb into
  a temporary folder, a free port on 127.0.0.1), so the shared test server is never touched;
- the SQLite file is made read-only (``chattr +i``: root writes past a chmod) and the disk
  fills up (a small tmpfs; and SQLite's ``max_page_count``, the same SQLITE_FULL error).

After each fault the service must recover by itself, without a restart. A worker killed
with SIGKILL mid-load is tested in ``test_load.py``, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from support import PROJECT_ROOT, require_part

from server import dberrors

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
import load_test  # bench/load_test.py: the load runner and gunicorn

PROBLEM_JSON = "application/problem+json"
TEMP_PREFIX = "cs-faults-"  # not creditscorer-*: the workbook tests clean those up


# --- what every fault run must show ------------------------------------------------------


def assert_no_score_left_unlogged(database_url: str, *reports: load_test.LoadReport) -> None:
    """Every scoring reply but a 503 has exactly one row; every 503 is problem+json with
    Retry-After. (``GET /v1/models``, kind "models", is no scoring route: it has no row.)"""
    for report in reports:
        withheld = [r for r in report.replied if r.status == 503]
        for reply in withheld:
            assert reply.retry_after, f"{reply.request_id}: a 503 without Retry-After"
            assert (reply.content_type or "").startswith(PROBLEM_JSON), reply
        wrong = [r for r in report.replied if r.status != 503 and r.failed]
        assert wrong == [], "replies other than the expected status or a 503"
        check = load_test.check_log(database_url, report)
        assert check.duplicates == 0
        assert check.integrity in (None, "ok")
        not_scoring = {r.request_id for r in report.replied if r.kind == "models"}
        unlogged = set(check.missing) - {r.request_id for r in withheld} - not_scoring
        assert unlogged == set(), "replies that left without their row"


def output_of(server: load_test.Gunicorn) -> str:
    return "".join(server.output)


# --- telling an outage from a bug, in one line --------------------------------------------


def test_outages_are_told_from_bugs_and_named_in_one_line(tmp_path):
    path = tmp_path / "ro.sqlite3"
    writer = sa.create_engine(f"sqlite:///{path}")
    with writer.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (a INTEGER)")
    writer.dispose()
    read_only = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    unreachable = sa.create_engine(f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/db")
    try:
        with pytest.raises(sa.exc.OperationalError) as refused, read_only.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        with pytest.raises(sa.exc.OperationalError) as missing, read_only.connect() as connection:
            connection.exec_driver_sql("SELECT * FROM no_such_table")
        with pytest.raises(sa.exc.OperationalError) as down:
            unreachable.connect()
    finally:
        read_only.dispose()
        unreachable.dispose()
    assert dberrors.is_unavailable(refused.value)
    assert dberrors.describe(refused.value, read_only).startswith("the database is read-only")
    assert dberrors.is_unavailable(down.value)
    port = unreachable.url.port
    assert dberrors.describe(down.value, unreachable) == (
        f"the database is unreachable at 127.0.0.1:{port}: connection refused"
    )
    assert not dberrors.is_unavailable(missing.value)  # a bug: no retry will fix it
    # Naming the cause never raises (a 503 must not become a 500), whatever the engine.
    assert dberrors.describe(refused.value, object()) == "attempt to write a readonly database"


def test_an_outage_is_logged_in_a_few_lines_not_one_per_request(caplog):
    test_log = logging.getLogger("creditscorer.test")
    outage = dberrors.OutageLog(test_log, "query log", "reply withheld", interval_s=60.0)
    with caplog.at_level(logging.WARNING, logger="creditscorer.test"):
        for i in range(100):
            code = "SQLITE_READONLY" if i % 2 else "SQLITE_IOERR_WRITE"
            outage.failed(f"the database is read-only: its file cannot be written [{code}]", i)
        outage.failed("the disk is full: no space left for the database [SQLITE_FULL]", 100)
        for _ in range(10):
            outage.succeeded()
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "query log: reply withheld: the database is read-only: its file cannot be written "
        "[SQLITE_IOERR_WRITE] (request 0)",
        "query log: reply withheld: the disk is full: no space left for the database "
        "[SQLITE_FULL] (request 100; 99 more failed since the last line)",
        "query log: the database works again after 101 failures",
    ]
    assert all(record.exc_info is None for record in caplog.records)  # no stack traces


def test_a_database_error_that_is_a_bug_stays_a_500(model_dir, tmp_path):
    from server import create_app

    app = create_app(
        model_dir=model_dir, train_if_missing=False, database_url=f"sqlite:///{tmp_path / 'b.db'}"
    )
    engine = app.extensions["creditscorer.db"]
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE api_keys")
        reply = app.test_client().get("/v1/models")
    finally:
        engine.dispose()
    assert reply.status_code == 500
    assert reply.mimetype == PROBLEM_JSON
    assert "Retry-After" not in reply.headers


# --- 2. PostgreSQL stopped and started during a load -------------------------------------


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL's binaries (/usr/lib/postgresql/<version>/bin)."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    found.sort(key=lambda p: [int(x) for x in p.parent.name.split(".") if x.isdigit()])
    return found[-1] if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own in a temporary folder, on 127.0.0.1 and a free port.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
    user and every command runs through ``runuser -u postgres --``.
    """

    def __init__(self, bindir: Path, root: Path):
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(root, owner.pw_uid, owner.pw_gid)
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        credentials = f"cs_faults:{self.password}"
        self.url = f"postgresql+psycopg://{credentials}@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [*self.as_owner, str(self.bindir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.root / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} {args[0]} failed: {done.stderr}{done.stdout}\n{tail}")

    def init(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(self.password)
        if self.as_owner:
            shutil.chown(password_file, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "cs_faults", "--pwfile", str(password_file),
            "--auth=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        password_file.unlink()

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.root / "postgres.log"),
            "-w", "-t", "60", "-o", options,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")


@pytest.fixture(scope="module")
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A cluster the tests may stop and start; removed afterwards."""
    bindir = postgres_bindir()
    require_part(bindir is not None, "postgresql-server", "initdb and pg_ctl")
    assert bindir is not None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require_part(False, "postgresql-server", "the postgres user to run it as")
    root = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}pg-"))
    cluster = ThrowawayPostgres(bindir, root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        # Not running when a test failed while it was stopped.
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


class Outage:
    """Stops PostgreSQL once ``stop_at`` of the load is done, starts it again ``down_s``
    later, and holds the requests from ``resume_at`` on until a second after it is back:
    however fast the machine, part of the load meets the outage and part the recovery.

    ``hook`` is the load's ``on_progress``; ``plan`` wraps its plan.
    """

    def __init__(self, cluster: ThrowawayPostgres, total: int, mode: str, stop_at: float = 0.25,
                 resume_at: float = 0.6, down_s: float = 1.5):  # fmt: skip
        self.cluster, self.total, self.mode = cluster, total, mode
        self.stop_at, self.resume_at, self.down_s = stop_at, resume_at, down_s
        self.stopping = threading.Event()
        self.started = threading.Event()  # set once started, or once the attempt failed
        self.times: dict[str, float] = {}
        self.errors: list[BaseException] = []

    def _stop_then_start(self) -> None:
        try:
            self.times["stop_begin"] = time.perf_counter()
            self.cluster.stop(self.mode)
            self.times["stop_end"] = time.perf_counter()
            time.sleep(self.down_s)  # the load goes on meanwhile: requests while it is down
            self.times["start_begin"] = time.perf_counter()
            self.cluster.start()
            self.times["start_end"] = time.perf_counter()
        except BaseException as error:  # reported by the test, not lost in a thread
            self.errors.append(error)
        finally:
            self.started.set()

    def hook(self, n: int) -> None:
        if n >= self.total * self.stop_at and not self.stopping.is_set():
            self.stopping.set()
            threading.Thread(target=self._stop_then_start, daemon=True).start()

    def plan(self, plan, pause_s: float, models_every: int = 0):
        """``plan`` with a pause before each request, held from ``resume_at`` on until a
        second after the restart; and, when ``models_every``, a ``GET /v1/models`` in
        between: a route whose only use of the database is the key check."""

        def planned(i: int) -> load_test.PlannedRequest:
            time.sleep(pause_s)
            if i >= self.total * self.resume_at:
                self.started.wait(timeout=120)
                back = self.times.get("start_end", 0.0) + 1.0
                time.sleep(max(0.0, back - time.perf_counter()))
            if models_every and i % models_every == 7:
                return load_test.PlannedRequest("GET", "/v1/models", kind="models")
            return plan(i)

        return planned


def wait_for_key_check(url: str, key: str) -> None:
    """Until every worker has seen that keys exist (they recheck open mode each second)."""
    deadline = time.monotonic() + 30
    refused = 0
    while time.monotonic() < deadline and refused < 8:
        status = requests.get(f"{url}/v1/models", timeout=10).status_code
        refused = refused + 1 if status == 401 else 0
        time.sleep(0.1)
    assert refused >= 8, "the server did not start asking for a key"
    assert requests.get(f"{url}/v1/models", headers={"X-API-Key": key}, timeout=10).ok


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_restarted_while_postgresql_is_down_boots_serves_503_and_recovers(
    model_dir, throwaway_postgres
):
    """A worker that starts during an outage (here: one killed, which the master replaces)
    must not fail to boot: gunicorn would then stop the whole service."""
    cluster = throwaway_postgres
    env = load_test.server_env(model_dir, cluster.url)
    with load_test.gunicorn_server(env, workers=2) as server:
        assert requests.get(f"{server.url}/v1/predict", params=query(0), timeout=30).ok
        cluster.stop("fast")
        try:
            killed = server.worker_pids()[0]
            os.kill(killed, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pids = server.worker_pids()
                if len(pids) == 2 and killed not in pids:
                    break
                time.sleep(0.2)
            time.sleep(2)  # the new worker has booted (or failed to)
            assert server.process.poll() is None, output_of(server)[-3000:]
            during = [
                requests.get(f"{server.url}/v1/predict", params=query(i), timeout=30)
                for i in range(6)
            ]
        finally:
            cluster.start()
        time.sleep(1)
        after = [
            requests.get(f"{server.url}/v1/predict", params=query(i), timeout=30) for i in range(6)
        ]
        output = output_of(server)
    assert {r.status_code for r in during} == {503}, output[-3000:]
    assert all(r.headers.get("Retry-After") for r in during)
    assert {r.status_code for r in after} == {200}, output[-3000:]
    assert "Worker failed to boot" not in output
    assert "the schema could not be checked" in output


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize(
    ("mode", "keyed", "synchronous_commit"),
    [("fast", False, False), ("immediate", True, True)],
    ids=["fast-stop-open-mode", "immediate-stop-keyed-synchronous-commit"],
)
def test_postgresql_restarted_during_a_load_gives_503s_no_unlogged_score_and_recovers(
    model_dir, throwaway_postgres, mode, keyed, synchronous_commit
):
    """Stopped at a quarter of the load, started again 1.5 s later: the requests in between get
    503 with Retry-After (problem+json, also where only the key check needs the database),
    every other reply has its row, and the same workers answer 200 again once it is back.

    "immediate" is a crash of the database server: a row committed without waiting for
    the disk may be lost then (docs/operations.md), so that run commits synchronously.
    """
    cluster = throwaway_postgres
    total = 1600
    env = load_test.server_env(model_dir, cluster.url)
    env["CREDITSCORER_LOG_SYNCHRONOUS_COMMIT"] = "1" if synchronous_commit else "0"
    headers = None
    with load_test.gunicorn_server(env, workers=2) as server:
        if keyed:
            from server import keys

            engine = sa.create_engine(cluster.url)
            try:
                _, key = keys.create_key(engine, "fault test")
            finally:
                engine.dispose()
            wait_for_key_check(server.url, key)
            headers = {"X-API-Key": key}
        workers_before = sorted(server.worker_pids())
        outage = Outage(cluster, total, mode)
        plan = outage.plan(load_test.default_plan, 0.005, models_every=10 if keyed else 0)
        report = load_test.run_load(
            server.url, total, concurrency=8, plan=plan, headers=headers,
            deadline_s=240, on_progress=outage.hook, max_idle_s=2.0,
        )  # fmt: skip
        outage.started.wait(timeout=120)
        after = [
            requests.get(f"{server.url}/v1/predict", params=query(i), headers=headers, timeout=30)
            for i in range(5)
        ]
        workers_after = sorted(server.worker_pids())
        output = output_of(server)
    assert outage.errors == []
    times = outage.times
    assert not report.stopped_early
    lost = [(r.request_id, r.kind, r.error, round(r.sent_at - times["stop_begin"], 2))
            for r in report.results if r.status is None]  # fmt: skip
    assert lost == [], f"requests without a reply:\n{output[-4000:]}"
    assert [r.status for r in report.replied if r.status == 500] == []
    down = [
        r
        for r in report.replied
        if r.sent_at > times["stop_end"] and r.sent_at + r.latency_s < times["start_begin"]
    ]
    assert len(down) >= 50, "too few requests while the database was down to tell"
    assert {r.status for r in down} == {503}, "a reply other than 503 while the database was down"
    if keyed:
        assert any(r.kind == "models" for r in down)  # the key check's 503, not a 500
    back = [r for r in report.replied if r.sent_at > times["start_end"] + 1.0]
    assert len(back) >= 100, "too few requests after the restart to tell"
    assert [r for r in back if r.failed] == [], "the service did not recover by itself"
    assert [r.status_code for r in after] == [200] * 5
    assert workers_after == workers_before  # recovered without a restart of any worker

    assert_no_score_left_unlogged(cluster.url, report)
    assert "Traceback" not in output
    assert "query log: row not written, reply withheld with 503: " in output
    assert "query log: the database works again after " in output
    if keyed:
        assert "database: request answered 503: " in output  # the key check's line


def query(i: int) -> dict[str, object]:
    duration, amount, age = load_test.APPLICANTS[i]
    return {"model": "logistic", "duration": duration, "amount": amount, "age": age}


# --- 3. SQLite: the file made read-only, the disk full -----------------------------------


@pytest.fixture
def fault_dir() -> Iterator[Path]:
    """A temporary folder (not under pytest's, which only its owner may enter)."""
    root = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    try:
        yield root
    finally:
        for path in root.rglob("*"):  # an immutable file left by a failed test
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
        subprocess.run(["umount", str(root / "disk")], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def immutable_flag_works(folder: Path) -> bool:
    """Whether ``chattr +i`` stops a write through a file already open (root, ext4 and the
    like; tmpfs accepts the flag but does not enforce it on open files)."""
    if shutil.which("chattr") is None:
        return False
    probe = folder / "immutable-probe"
    with open(probe, "wb") as handle:
        if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode:
            return False
        try:
            handle.write(b"x")
            handle.flush()
            stopped = False
        except OSError:
            stopped = True
        finally:
            subprocess.run(["chattr", "-i", str(probe)], capture_output=True, check=False)
    probe.unlink()
    return stopped


def mount_tmpfs(folder: Path, size: str) -> bool:
    """Mount a small tmpfs at ``folder``: a disk that really fills up (needs CAP_SYS_ADMIN)."""
    folder.mkdir()
    if shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        capture_output=True,
    )
    return done.returncode == 0


def fill_disk(folder: Path) -> Path:
    """Write a file until the disk has no byte left; return it."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


# sitecustomize for the server's processes: while the trigger file exists, every SQLite
# connection is capped at its database's current size (PRAGMA max_page_count), so that the
# next page it needs fails with SQLITE_FULL, the error of a full disk; once the file is
# gone the cap is lifted again, before the connection's next statement.
PAGE_LIMIT_HOOK = """
import os

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_TRIGGER = os.environ["CS_FAULTS_PAGE_LIMIT_TRIGGER"]
_NO_LIMIT = 4294967294


@sa.event.listens_for(Engine, "before_cursor_execute")
def _cap_pages(connection, cursor, statement, parameters, context, executemany):
    if connection.dialect.name != "sqlite":
        return
    pooled = connection.connection  # its info lives as long as the SQLite connection
    wanted = os.path.exists(_TRIGGER)
    if pooled.info.get("cs_faults_capped", False) == wanted:
        return
    raw = pooled.dbapi_connection
    pages = raw.execute("PRAGMA page_count").fetchone()[0] if wanted else _NO_LIMIT
    raw.execute(f"PRAGMA max_page_count = {pages}").fetchall()
    pooled.info["cs_faults_capped"] = wanted
"""


class CappedConnections:
    """``PAGE_LIMIT_HOOK`` for a server: ``env`` to start it with, ``cap()`` and ``lift()``."""

    def __init__(self, folder: Path):
        hook_dir = folder / "hook"
        hook_dir.mkdir()
        (hook_dir / "sitecustomize.py").write_text(PAGE_LIMIT_HOOK)
        self.trigger = folder / "cap-now"
        path = [str(hook_dir), str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
        self.env = {
            "PYTHONPATH": os.pathsep.join(p for p in path if p),
            "CS_FAULTS_PAGE_LIMIT_TRIGGER": str(self.trigger),
        }

    def cap(self) -> None:
        self.trigger.touch()

    def lift(self) -> list[str]:
        return ["rm", "-f", str(self.trigger)]


def batch_plan(i: int) -> load_test.PlannedRequest:
    """The default mix with more batches, so that a few hundred requests fill some pages."""
    if i % 4 == 0:
        return load_test.default_plan(i * 25)  # i * 25 % 25 == 0: a batch
    return load_test.default_plan(i)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["read-only", "disk-full-tmpfs", "disk-full-max-page-count"])
def test_sqlite_read_only_or_full_gives_503s_a_clear_log_line_and_recovers(
    model_dir, fault_dir, fault
):
    """Fault after a first load, a second load under the fault, the fault undone, a third
    load: the second gets 503 with Retry-After (never a score without its row), the log
    names the cause in a line or two per worker, the third is answered 200 again."""
    extra_env: dict[str, str] = {}
    capped = None
    if fault == "read-only":
        require_part(immutable_flag_works(fault_dir), "chattr", "root on ext4, xfs or btrfs")
        db_folder = fault_dir
        cause = "the database is read-only"
    elif fault == "disk-full-tmpfs":
        require_part(mount_tmpfs(fault_dir / "disk", "3m"), "tmpfs")
        db_folder = fault_dir / "disk"
        cause = "the disk is full"
    else:
        capped = CappedConnections(fault_dir)
        extra_env = capped.env
        db_folder = fault_dir
        cause = "the database is full"
    database = db_folder / "querylog.sqlite3"
    url = f"sqlite:///{database}"
    env = {**load_test.server_env(model_dir, url), **extra_env}
    undo = []
    with load_test.gunicorn_server(env, workers=2) as server:
        before = load_test.run_load(server.url, total=50, concurrency=4, deadline_s=60)
        if fault == "read-only":
            files = [str(database), f"{database}-wal"]  # not -shm: it is mapped in memory
            subprocess.run(["chattr", "+i", *files], check=True)
            undo = [["chattr", "-i", *files]]
        elif fault == "disk-full-tmpfs":
            filler = fill_disk(db_folder)
            undo = [["rm", "-f", str(filler)]]
        else:
            assert capped is not None
            capped.cap()
            undo = [capped.lift()]
        try:
            during = load_test.run_load(
                server.url, total=200, concurrency=4, plan=batch_plan, deadline_s=120
            )
        finally:
            for command in undo:
                subprocess.run(command, check=True)
        after = load_test.run_load(server.url, total=50, concurrency=4, deadline_s=60)
        output = output_of(server)
    assert before.failed == []
    withheld = [r for r in during.replied if r.status == 503]
    assert len(withheld) >= 100, f"only {len(withheld)} of 200 requests got 503 under the fault"
    assert after.failed == [], "the service did not recover by itself"
    assert_no_score_left_unlogged(url, before, during, after)
    lines = [line for line in output.splitlines() if cause in line]
    assert lines, f"no log line names the cause ({cause!r}):\n{output[-3000:]}"
    assert len(lines) <= 8, "one line per request: the log is flooded"
    assert "Traceback" not in output
    assert "query log: the database works again after " in output
