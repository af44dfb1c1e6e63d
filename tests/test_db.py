"""The database layer: table creation is safe when several processes start at once."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from support import run_together

from server import db, keys, querylog  # noqa: F401 (importing registers their tables)


def create_concurrently(engines: list[sa.Engine]) -> list[BaseException]:
    return run_together(db.create_tables, engines)


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
