"""The first release's schema: the query log and the API keys.

Exactly what that release's ``metadata.create_all`` made, frozen here on purpose: later
changes to ``server/querylog.py`` or ``server/keys.py`` go into new revisions, never
into this one. A table that already exists is left alone: a database made by the release
before migrations may hold only ``api_keys`` (a key added with ``python -m server keys
add`` before the server ever started), and this revision then creates just what is
missing. A database that has both tables is stamped with this revision instead of
running it (``server.db.upgrade``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: an alias of the rowid


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("query_log"):
        op.create_table(
            "query_log",
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("request_id", sa.String(128), nullable=False),
            sa.Column("route", sa.String(64), nullable=False),
            sa.Column("model", sa.String(64)),
            sa.Column("model_version", sa.String(128)),
            sa.Column("status", sa.Integer, nullable=False),
            sa.Column("row_count", sa.Integer, nullable=False),
            sa.Column("rows_failed", sa.Integer, nullable=False),
            sa.Column("approved", sa.Integer, nullable=False),
            sa.Column("declined", sa.Integer, nullable=False),
            sa.Column("latency_ms", sa.Float, nullable=False),
            sa.Column("key_id", sa.String(64)),
            sa.Column("inputs", sa.Text),
            sa.Column("outputs", sa.Text),
            sa.Column("summary", sa.Text),
        )
        op.create_index(
            "ix_query_log_window",
            "query_log",
            [
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
            ],
        )
    if not inspector.has_table("api_keys"):
        op.create_table(
            "api_keys",
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("name", sa.String(100), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("key_sha256", sa.String(64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index("ix_query_log_window", table_name="query_log")
    op.drop_table("query_log")
