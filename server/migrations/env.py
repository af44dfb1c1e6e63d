"""Alembic's environment for CreditScorer: runs on the connection ``server.db`` hands it.

``server.db.upgrade`` opens that connection under the schema lock (a PostgreSQL advisory
lock, or SQLite's write lock) and puts it in ``config.attributes["connection"]``; the
migrations run inside that one transaction, so Alembic never begins or commits its own.
There is no alembic.ini: ``server.db.alembic_config`` builds the configuration.
"""

from __future__ import annotations

from alembic import context

from server import db, keys, querylog  # noqa: F401 (importing registers their tables)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run the migrations with python -m server db upgrade (server.db.upgrade), "
        "which opens the connection under the schema lock"
    )
context.configure(
    connection=connection,
    target_metadata=db.metadata,
    # SQLite cannot ALTER most things: autogenerate writes batch operations (copy the
    # table, alter the copy, swap it in), which work on PostgreSQL too.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
