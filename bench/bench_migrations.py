"""What the schema upgrade costs: at every start (nothing to do) and on a big old log.

Run: .venv/bin/python bench/bench_migrations.py [--database-url URL] [--rows N] [--rounds N]
Prints the median time of ``server.db.upgrade`` on an empty database, on a current one
(what every start pays), and on a database of the release before migrations holding
``--rows`` query-log rows (stamp 0001, then 0002 adds two columns and a table). Without
``--database-url`` it uses a new SQLite file; a PostgreSQL URL gets a new schema, dropped
afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from server import db, keys, querylog  # noqa: F401 (importing registers their tables)

FROZEN = Path(__file__).resolve().parent.parent / "tests" / "data"


def old_database(url: str, rows: int) -> None:
    """The release before migrations' tables (tests/data), with ``rows`` log rows."""
    engine = db.make_engine(url)
    dialect = "postgresql" if engine.dialect.name == "postgresql" else "sqlite"
    ddl = (FROZEN / f"schema_bd58281_{dialect}.sql").read_text(encoding="utf-8")
    lines = [line for line in ddl.splitlines() if not line.startswith("--")]
    row = {
        "created_at": "2026-11-30 12:00:00",
        "request_id": "bench",
        "route": "POST /v1/predict",
        "model": "logistic",
        "model_version": "1",
        "status": 200,
        "row_count": 1,
        "rows_failed": 0,
        "approved": 1,
        "declined": 0,
        "latency_ms": 1.5,
        "inputs": '{"duration": 24, "amount": 4000, "age": 35}',
        "outputs": '{"probability_default": 0.2, "decision": "approve"}',
        "summary": "{}",
    }
    insert = sa.table("query_log", *(sa.column(name) for name in row)).insert()
    with engine.begin() as connection:
        for statement in "\n".join(lines).split(";"):
            if statement.strip():
                connection.exec_driver_sql(statement)
        for start in range(0, rows, 10_000):
            connection.execute(insert, [row] * min(10_000, rows - start))
    engine.dispose()


def timed(url: str) -> float:
    engine = db.make_engine(url)
    try:
        started = time.perf_counter()
        db.upgrade(engine)
        return (time.perf_counter() - started) * 1000
    finally:
        engine.dispose()


def run(make_url, rows: int, rounds: int) -> None:
    empty, current, old = [], [], []
    for _ in range(rounds):
        url = make_url()
        empty.append(timed(url))
        current.append(timed(url))
    for _ in range(max(1, rounds // 5)):
        url = make_url()
        old_database(url, rows)
        old.append(timed(url))
    print(f"empty database to head:          {statistics.median(empty):8.1f} ms")
    print(f"current database (every start):  {statistics.median(current):8.1f} ms")
    print(f"release before, {rows:,} rows: {statistics.median(old):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not args.database_url:
        with tempfile.TemporaryDirectory(prefix="cs-bench-") as tmp:
            run(lambda: f"sqlite:///{Path(tmp) / uuid.uuid4().hex}.sqlite3", args.rows, args.rounds)
        return
    admin = sa.create_engine(args.database_url)
    schemas: list[str] = []

    def make_url() -> str:
        schemas.append(f"bench_{uuid.uuid4().hex[:12]}")
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schemas[-1]}"'))
        return (
            sa.make_url(args.database_url)
            .update_query_dict({"options": f"-csearch_path={schemas[-1]}"})
            .render_as_string(hide_password=False)
        )

    try:
        run(make_url, args.rows, args.rounds)
    finally:
        with admin.begin() as connection:
            for schema in schemas:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
