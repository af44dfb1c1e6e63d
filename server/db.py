"""The server's database: the query log and the API keys live here.

SQLite by default (a file in the instance folder, WAL mode and a busy timeout so that
several gunicorn workers can share it); PostgreSQL when ``CREDITSCORER_DATABASE_URL``
points at one. SQLAlchemy Core only: tables, not an ORM.
"""

from __future__ import annotations

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


def create_tables(engine: Engine) -> None:
    """Create every table registered on ``metadata`` that does not exist yet."""
    metadata.create_all(engine)
