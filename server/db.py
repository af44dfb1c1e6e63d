"""The server's database: the query log and the API keys live here.

SQLite by default (a file in the instance folder, WAL mode and a busy timeout so that
several gunicorn workers can share it); PostgreSQL when ``CREDITSCORER_DATABASE_URL``
points at one. SQLAlchemy Core only: tables, not an ORM.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()

SQLITE_BUSY_TIMEOUT_MS = 10_000


def default_url(instance_path: Path) -> str:
    return f"sqlite:///{Path(instance_path) / 'creditscorer.sqlite3'}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite connections get WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises table creation.
_DDL_LOCK = 0x43_72_65_64_69_74_53_63  # "CreditSc"
_DDL_ATTEMPTS = 5


def create_tables(engine: Engine, tables: list[sa.Table] | None = None) -> None:
    """Create the tables registered on ``metadata`` (or just ``tables``) that do not exist yet.

    Several processes may start at once on an empty database (gunicorn workers, or N app
    containers behind one PostgreSQL). Each would see no table and create it, and all but
    one would fail with "already exists". On PostgreSQL a transaction-scoped advisory lock
    makes them take turns, and the later ones find the tables made; SQLite's driver runs
    each CREATE on its own, so there the loser of a race simply looks again (as it does
    when a fresh file is still being switched to WAL by another connection).
    """
    for attempt in range(_DDL_ATTEMPTS):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK}
                    )
                metadata.create_all(connection, tables=tables)
            return
        except sa.exc.OperationalError as error:
            # "database is locked": several SQLite connections switching a new file to WAL
            # at the same moment, where SQLite refuses at once rather than wait.
            transient = "already exists" in str(error) or "database is locked" in str(error)
            if not transient or attempt == _DDL_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
