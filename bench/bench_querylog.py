"""What the query log costs a single score, and how fast the statistics are at a million rows.

    python bench/bench_querylog.py                      # SQLite
    python bench/bench_querylog.py --database-url postgresql+psycopg://user:pw@127.0.0.1/db

Part 1, one score: two gunicorn servers (1 worker each, same models), one with the query
log and one without, are asked the same single score in turn (A, B, A, B, … so that
machine noise hits both alike); the medians and their difference are printed, beside the
server-side cost of the log measured in-process (building the row, writing it).

Part 2, group commit (``--only group-commit`` runs just this part): 8 threads of one
process write log rows (real ones, from a scored request) as fast as they can, with one
commit per row and with group commit (``QueryLog(group_commit=...)``; ``--writers 1 2 4``
compares how many groups a process writes at once), in turn; rows per second and rows per
commit are printed side by side, and a lone writer's cost, which group commit must not
raise. ``--synchronous-commit`` repeats it with PostgreSQL's durable commits.

Part 3, a big batch's log write (``--only batch-write`` runs just this part): the log row of
one scored 100,000-row JSON batch is built, inserted and committed, in turn (A, B, B, A, …)
the way it was (inputs and outputs inline as JSON text) and the way it is (counts, summary
and the body's SHA-256 inline, inputs and outputs zstd-compressed in ``query_log_detail``);
the medians and their ratio are printed.

Part 4, statistics: a log of 1,000,000 rows spread over 30 days (two models, 5 % errors,
single scores and batches) is seeded into a new database; the stats of one model for the
last 24 hours and for all 30 days, and the all-model totals, are timed with the window
index and again without it.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import orjson

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

import load_test  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from server import create_app  # noqa: E402
from server.querylog import query_log, query_log_detail, utcnow  # noqa: E402
from server.stats import Window, all_stats, model_stats  # noqa: E402

PATH = "/v1/predict?model=logistic&duration=24&amount=4000&age=35"


def _median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def _quantile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def single_score_cost(model_dir: Path, database_url: str, rounds: int) -> None:
    """Alternate one score between a logging and a non-logging server; print the medians."""
    timings: dict[str, list[float]] = {"with log": [], "without log": []}
    with (
        load_test.gunicorn_server(
            load_test.server_env(model_dir, database_url, True), workers=1
        ) as on,
        load_test.gunicorn_server(
            load_test.server_env(model_dir, database_url, False), workers=1
        ) as off,
    ):
        connections = {}
        for label, server in (("with log", on), ("without log", off)):
            parts = http.client.urlsplit(server.url)  # type: ignore[attr-defined]
            connections[label] = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            for i in range(rounds + 200):
                for label in timings if i % 2 else reversed(list(timings)):
                    connection = connections[label]
                    started = time.perf_counter()
                    connection.request("GET", PATH)
                    reply = connection.getresponse()
                    reply.read()
                    elapsed = time.perf_counter() - started
                    if reply.status != 200:
                        raise RuntimeError(f"{label}: status {reply.status}")
                    if i >= 200:  # the first 200 rounds warm both servers up
                        timings[label].append(elapsed)
        finally:
            for connection in connections.values():
                connection.close()
    print(f"single score over HTTP, {rounds} alternating rounds, gunicorn 1 worker each:")
    for label, values in timings.items():
        median, p90 = _median_ms(values), _quantile_ms(values, 0.9)
        print(f"  {label:<12} median {median:6.3f} ms   p90 {p90:6.3f} ms")
    difference = _median_ms(timings["with log"]) - _median_ms(timings["without log"])
    print(
        f"  cost of the log: {difference:+.3f} ms on the median "
        f"({difference / _median_ms(timings['without log']):+.1%})"
    )


def server_side_cost(model_dir: Path, database_url: str, n: int) -> None:
    """Time the log's own steps inside the app: describing the request, writing the row."""
    import server.querylog as querylog

    spent: dict[str, list[float]] = {"describe": [], "write": []}
    original_row, original_write = querylog._row, querylog.QueryLog.write

    def timed_row(*args):
        started = time.perf_counter()
        try:
            return original_row(*args)
        finally:
            spent["describe"].append(time.perf_counter() - started)

    def timed_write(self, row, detail=None):
        started = time.perf_counter()
        try:
            return original_write(self, row, detail)
        finally:
            spent["write"].append(time.perf_counter() - started)

    # Patched before the app is made: its metrics wrap the write method it finds then.
    querylog._row, querylog.QueryLog.write = timed_row, timed_write  # type: ignore[assignment]
    app = create_app(model_dir=model_dir, train_if_missing=False, database_url=database_url)
    try:
        client = app.test_client()
        for _ in range(n):
            client.get(PATH)
    finally:
        querylog._row, querylog.QueryLog.write = original_row, original_write  # type: ignore[assignment]
        app.extensions["creditscorer.db"].dispose()
    print(f"server side, in-process, {n} single scores:")
    for label, values in spent.items():
        median, mean = _median_ms(values), 1000 * statistics.mean(values)
        p99 = _quantile_ms(values, 0.99)
        print(f"  {label:<9} median {median:6.3f} ms   mean {mean:6.3f} ms   p99 {p99:6.3f} ms")


def _sample_row(model_dir: Path, database_url: str) -> dict:
    """The log row of one real single score, as the app writes it."""
    import server.querylog as querylog

    captured: list[dict] = []
    original = querylog.QueryLog.write

    def capture(self, row, detail=None):
        captured.append(dict(row))
        return original(self, row, detail)

    querylog.QueryLog.write = capture  # type: ignore[method-assign]
    try:  # before the app is made: its metrics wrap the method it has then
        app = create_app(model_dir=model_dir, train_if_missing=False, database_url=database_url)
        app.test_client().get(PATH)
    finally:
        querylog.QueryLog.write = original  # type: ignore[method-assign]
    app.extensions["creditscorer.db"].dispose()
    return captured[0]


def _core_write(engine: sa.Engine, synchronous_commit: bool):
    """The log row's write as it was before the driver-level insert: ``execute(insert)``."""
    postgres = engine.dialect.name == "postgresql"
    wanted = "on" if synchronous_commit or not postgres else "off"

    def write(row: dict) -> None:
        if not postgres:
            with engine.begin() as connection:
                connection.execute(query_log.insert(), row)
            return
        with engine.connect() as pooled:
            connection = pooled.execution_options(isolation_level="AUTOCOMMIT")
            info = connection.connection.info
            if info.get("bench.synchronous_commit") != wanted:
                connection.exec_driver_sql(f"SET synchronous_commit TO {wanted}")
                info["bench.synchronous_commit"] = wanted
            connection.execute(query_log.insert(), row)

    return write


def group_commit_cost(
    model_dir: Path,
    database_url: str,
    threads: int,
    seconds: float,
    rounds: int,
    synchronous_commit: bool = False,
    writers: tuple[int, ...] = (1,),
) -> dict[str, dict[str, float]]:
    """Rows per second from ``threads`` writers, one commit per row and group commit (with
    each number of concurrent groups in ``writers``), in turn; returns the medians."""
    from server import db
    from server.querylog import QueryLog

    template = _sample_row(model_dir, database_url)
    engine = db.make_engine(database_url)
    variants = {"one commit per row": (False, 1)}
    for n in writers:
        variants[f"group commit, {n} at once" if len(writers) > 1 else "group commit"] = (True, n)
    figures: dict[str, dict[str, list[float]]] = {
        label: {"rows/s": [], "rows/commit": []} for label in variants
    }
    prefix = f"bench-group-{time.time_ns()}"
    try:
        for round_ in range(rounds):
            order = list(variants)
            order = order[round_ % len(order) :] + order[: round_ % len(order)]  # rotate
            for label in order:
                grouped, at_once = variants[label]
                querylog = QueryLog(
                    engine, True, 0, synchronous_commit, group_commit=grouped, group_writers=at_once
                )
                written = [0] * threads
                stop = time.perf_counter() + seconds
                barrier = threading.Barrier(threads)

                def work(t: int, querylog=querylog, written=written, stop=stop, barrier=barrier):
                    barrier.wait()
                    while time.perf_counter() < stop:
                        querylog.write({**template, "request_id": f"{prefix}-{t}"})
                        written[t] += 1

                started = time.perf_counter()
                pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
                for thread in pool:
                    thread.start()
                for thread in pool:
                    thread.join()
                elapsed = time.perf_counter() - started
                figures[label]["rows/s"].append(sum(written) / elapsed)
                figures[label]["rows/commit"].append(querylog.writer.stats.items_per_group)
        # One writer alone, the settings in turn: group commit must cost it nothing. The
        # third is the write as it was before (SQLAlchemy Core's execute of the insert).
        alone = {
            label: QueryLog(
                engine, True, 0, synchronous_commit, group_commit=label == "group commit"
            ).write
            for label in ("group commit", "one commit per row")
        }
        alone["before: SQLAlchemy execute"] = _core_write(engine, synchronous_commit)
        spent: dict[str, list[float]] = {label: [] for label in alone}
        for i in range(900):
            order = list(alone.items())
            for label, write in order[i % 3 :] + order[: i % 3]:
                started = time.perf_counter()
                write({**template, "request_id": f"{prefix}-lone"})
                if i >= 100:
                    spent[label].append(time.perf_counter() - started)
    finally:
        with engine.begin() as connection:
            connection.execute(
                sa.delete(query_log).where(query_log.c.request_id.like(f"{prefix}%"))
            )
        engine.dispose()
    durable = ", synchronous commit" if synchronous_commit and querylog._postgres else ""
    print(
        f"log writes, {threads} threads of one process, {rounds} rounds of {seconds:g} s "
        f"each, in turn ({engine.dialect.name}{durable}; medians of the rounds):"
    )
    medians = {
        label: {key: statistics.median(values) for key, values in entry.items()}
        for label, entry in figures.items()
    }
    base = medians["one commit per row"]["rows/s"]
    for label, entry in medians.items():
        print(
            f"  {label:<26} {entry['rows/s']:7.0f} rows/s ({entry['rows/s'] / base:4.2f}x)  "
            f"{entry['rows/commit']:5.2f} rows per commit"
        )
    print(
        "  one writer alone, per row, in turn: "
        + ", ".join(f"{label} {_median_ms(values):.3f} ms" for label, values in spent.items())
    )
    return medians


def seed(engine: sa.Engine, versions: dict[str, str], n: int, days: int) -> None:
    """Insert ``n`` plausible log rows spread evenly over the last ``days`` days."""
    rng = np.random.default_rng(1994)
    now = utcnow()
    offsets = np.sort(rng.uniform(0, days * 86400, n))[::-1]
    names = list(versions)
    statuses = rng.choice([200, 400, 404], size=n, p=[0.95, 0.045, 0.005])
    latency = rng.lognormal(mean=0.3, sigma=0.5, size=n)
    batch = rng.random(n) < 0.02
    summaries = {}
    chunk = []
    started = time.perf_counter()
    with engine.begin() as connection:
        for i in range(n):
            status = int(statuses[i])
            model = names[i % len(names)] if status != 404 else None
            rows = int(rng.integers(2, 200)) if batch[i] else 1
            ok = status == 200
            declined = int(rows * 0.8) if ok else 0
            key = (int(rng.integers(0, 20)), int(rng.integers(0, 8)), int(rng.integers(0, 10)))
            if ok and key not in summaries:
                summaries[key] = orjson.dumps(
                    {
                        "score": [[key[0], 1]],
                        "features": {
                            "duration": [[key[1], 1]],
                            "amount": [[key[2], 1]],
                            "age": [[5, 1]],
                        },
                    }
                ).decode()
            chunk.append(
                {
                    "created_at": now - timedelta(seconds=float(offsets[i])),
                    "request_id": f"seed-{i}",
                    "route": "POST /v1/predict/batch" if batch[i] else "GET /v1/predict",
                    "model": model,
                    "model_version": versions.get(model) if model else None,
                    "status": status,
                    "row_count": rows,
                    "rows_failed": 0,
                    "approved": rows - declined if ok else 0,
                    "declined": declined,
                    "latency_ms": float(latency[i]),
                    "key_id": None,
                    "inputs": '{"duration":24,"amount":4000,"age":35}',
                    "outputs": '{"probability_default":0.31,"decision":"decline","warnings":[]}',
                    "summary": summaries[key] if ok else None,
                }
            )
            if len(chunk) == 20_000:
                connection.execute(query_log.insert(), chunk)
                chunk = []
        if chunk:
            connection.execute(query_log.insert(), chunk)
    print(f"seeded {n:,} rows over {days} days in {time.perf_counter() - started:.0f} s")


def _timed(label: str, action, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    best = min(times)
    print(f"  {label:<44} {1000 * best:9.1f} ms (best of {repeat})")
    return best


def stats_at_scale(model_dir: Path, database_url: str, n: int) -> None:
    app = create_app(model_dir=model_dir, train_if_missing=False, database_url=database_url)
    engine = app.extensions["creditscorer.db"]
    store = app.extensions["creditscorer.store"]
    try:
        with engine.begin() as connection:
            connection.execute(sa.delete(query_log).where(query_log.c.request_id.like("seed-%")))
        versions = {name: store.get(name).version for name in store.names()}
        seed(engine, versions, n, days=30)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE query_log")
        model = store.get("logistic")
        now = utcnow()
        day = Window(now - timedelta(hours=24), now)
        month = Window(now - timedelta(days=31), now)

        def one(window: Window):
            with engine.connect() as connection:
                return model_stats(connection, model, window)

        figures = {}
        for indexed in (True, False):
            if not indexed:
                with engine.begin() as connection:
                    connection.exec_driver_sql("DROP INDEX ix_query_log_window")
            print(
                f"statistics on {n:,} rows ({engine.dialect.name}), "
                f"{'with' if indexed else 'WITHOUT'} the window index:"
            )
            figures[indexed] = (
                _timed("one model, last 24 h (~1/30 of the rows)", lambda: one(day)),
                _timed("one model, all 30 days (half the rows)", lambda: one(month)),
                _timed("/v1/stats: totals + both models, 24 h", lambda: all_stats(app, day)),
            )
        with engine.begin() as connection:
            for index in query_log.indexes:
                index.create(connection)
        ratio = figures[False][0] / figures[True][0]
        print(f"  the index makes the 24-hour stats {ratio:.0f}x faster")
    finally:
        with engine.begin() as connection:
            connection.execute(sa.delete(query_log).where(query_log.c.request_id.like("seed-%")))
        engine.dispose()


def batch_write_cost(model_dir: Path, database_url: str, n_rows: int, rounds: int) -> None:
    """Build, insert and commit one big batch's log row: inline JSON against the side table."""
    import hashlib

    from flask import Response, g

    import server.querylog as querylog
    from server import tables

    app = create_app(model_dir=model_dir, train_if_missing=False, database_url=database_url)
    engine = app.extensions["creditscorer.db"]
    log = querylog.querylog_of(app)
    model = app.extensions["creditscorer.store"].get("logistic")
    rng = np.random.default_rng(7)
    rows = [
        [int(rng.integers(4, 72)), int(rng.integers(250, 18_000)), int(rng.integers(19, 75))]
        for _ in range(n_rows)
    ]
    for i in range(0, n_rows, 1000):  # one bad row in a thousand: row errors in the outputs
        rows[i][1] = "abc"
    body = orjson.dumps({"columns": ["duration", "amount", "age"], "rows": rows})
    table = tables.from_json(orjson.loads(body), model.card.feature_names, n_rows)
    scoring = querylog.ScoringRecord(model=model, inputs=table.columns, rows=table.n_rows)
    scoring.result = model.score_table(table.columns, table.n_rows)
    response = Response(b"{}", mimetype="application/json")
    ways = {"before: inline JSON": False, "after: side table": True}
    timings: dict[str, list[float]] = {label: [] for label in ways}
    stored: dict[str, int] = {}

    def write_once(label: str, aside: bool, i: int) -> float:
        with app.test_request_context("/v1/predict/batch", method="POST"):
            g.request_id = f"bench-batch-{i}"
            g.querylog_started, g.querylog_arrived = time.perf_counter(), utcnow()
            started = time.perf_counter()
            if aside:
                scoring.body_sha256 = hashlib.sha256(body).hexdigest()
            row = querylog._row(scoring, response, True)
            detail = querylog._move_detail(row, log.detail_bytes if aside else sys.maxsize)
            log.write(row, detail)
            elapsed = time.perf_counter() - started
        if detail is not None:
            stored[label] = len(detail["data"])
        else:
            stored[label] = len(row["inputs"]) + len(row["outputs"])
        return elapsed

    try:
        for i in range(rounds + 1):  # round 0 warms both ways up
            order = list(ways.items()) if i % 2 else list(reversed(ways.items()))
            for label, aside in order:
                elapsed = write_once(label, aside, i)
                if i:
                    timings[label].append(elapsed)
    finally:
        with engine.begin() as connection:
            connection.execute(
                sa.delete(query_log_detail).where(
                    query_log_detail.c.detail_key.in_(
                        sa.select(query_log.c.detail_key).where(
                            query_log.c.request_id.like("bench-batch-%")
                        )
                    )
                )
            )
            connection.execute(
                sa.delete(query_log).where(query_log.c.request_id.like("bench-batch-%"))
            )
        engine.dispose()
    print(
        f"log write of one {n_rows:,}-row batch ({engine.dialect.name}), build + insert + "
        f"commit, {rounds} alternating rounds:"
    )
    for label, values in timings.items():
        print(
            f"  {label:<20} median {_median_ms(values):7.1f} ms   "
            f"min {1000 * min(values):7.1f} ms   stored {stored[label] / 1e6:5.2f} MB"
        )
    before, after = (_median_ms(values) for values in timings.values())
    print(f"  after / before: {after / before:.2f} (medians)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="default: new SQLite files")
    parser.add_argument("--rounds", type=int, default=2000, help="single-score rounds")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows seeded for the stats")
    parser.add_argument("--threads", type=int, default=8, help="writers for the group commit")
    parser.add_argument(
        "--synchronous-commit", action="store_true", help="part 2 also with durable commits"
    )
    parser.add_argument(
        "--writers", type=int, nargs="+", default=[1], help="part 2: groups written at once"
    )
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--batch-rows", type=int, default=100_000, help="rows of the big batch")
    parser.add_argument("--batch-rounds", type=int, default=9, help="big-batch write rounds")
    parser.add_argument(
        "--only", choices=["batch-write", "group-commit"], help="run only this part"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cs-bench-log-") as tmp:
        model_dir = args.model_dir
        if model_dir is None:
            from training import train_all

            model_dir = Path(tmp) / "models"
            train_all(model_dir, quick=True)
        url = args.database_url or f"sqlite:///{Path(tmp) / 'querylog.sqlite3'}"
        print(f"database: {url.split('@')[-1]}")
        if args.only == "group-commit":
            writers = tuple(args.writers)
            group_commit_cost(model_dir, url, args.threads, 3.0, 6, writers=writers)
            if args.synchronous_commit:
                group_commit_cost(model_dir, url, args.threads, 3.0, 6, True, writers)
            return 0
        batch_write_cost(model_dir, url, args.batch_rows, args.batch_rounds)
        if args.only == "batch-write":
            return 0
        single_score_cost(model_dir, url, args.rounds)
        server_side_cost(model_dir, url, args.rounds)
        group_commit_cost(model_dir, url, args.threads, 3.0, 6)
        stats_url = args.database_url or f"sqlite:///{Path(tmp) / 'million.sqlite3'}"
        stats_at_scale(model_dir, stats_url, args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
