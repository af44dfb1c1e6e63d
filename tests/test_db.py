"""The database layer: table creation is safe when several processes start at once."""

from __future__ import annotations

import threading
import uuid

import sqlalchemy as sa

from server import db, keys, querylog  # noqa: F401 (importing registers their tables)


def create_concurrently(engines: list[sa.Engine]) -> list[BaseException]:
    barrier = threading.Barrier(len(engines))
    failures: list[BaseException] = []

    def start(engine: sa.Engine) -> None:
        barrier.wait(timeout=30)
        try:
            db.create_tables(engine)
        except BaseException as error:  # every failure is the finding
            failures.append(error)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return failures


def test_workers_starting_together_on_an_empty_sqlite_file_all_succeed(tmp_path):
    url = db.default_url(tmp_path)
    engines = [db.make_engine(url) for _ in range(6)]
    try:
        assert create_concurrently(engines) == []
        assert {"query_log", "api_keys"} <= set(sa.inspect(engines[0]).get_table_names())
    finally:
        for engine in engines:
            engine.dispose()


def test_workers_starting_together_on_an_empty_postgresql_schema_all_succeed(postgres_url):
    schema = f"race_{uuid.uuid4().hex[:12]}"
    admin = db.make_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engines = [
        sa.create_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})
        for _ in range(6)
    ]
    try:
        assert create_concurrently(engines) == []
        tables = set(sa.inspect(engines[0]).get_table_names(schema=schema))
        assert {"query_log", "api_keys"} <= tables
    finally:
        for engine in engines:
            engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
