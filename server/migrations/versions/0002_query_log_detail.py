"""The query log's body digest and detail key, and the detail table for big batches.

Revision 0002, after 0001. The query log's detail table came shortly before migrations
did: a database that code made with ``metadata.create_all`` holds some or all of this and
no alembic_version, is stamped 0001 like any older one, and this revision then adds only
what it lacks. ``ALTER TABLE … ADD COLUMN`` runs in place on SQLite too (the batch does not
copy the table), so the upgrade of a big log is quick.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("query_log_detail"):
        op.create_table(
            "query_log_detail",
            sa.Column("detail_key", sa.String(length=32), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("encoding", sa.String(length=32), nullable=False),
            sa.Column("data", sa.LargeBinary(), nullable=False),
            sa.PrimaryKeyConstraint("detail_key"),
        )
        with op.batch_alter_table("query_log_detail", schema=None) as batch_op:
            batch_op.create_index("ix_query_log_detail_created_at", ["created_at"], unique=False)
    columns = {c["name"] for c in inspector.get_columns("query_log")}
    with op.batch_alter_table("query_log", schema=None) as batch_op:
        if "body_sha256" not in columns:
            batch_op.add_column(sa.Column("body_sha256", sa.String(length=64), nullable=True))
        if "detail_key" not in columns:
            batch_op.add_column(sa.Column("detail_key", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("query_log", schema=None) as batch_op:
        batch_op.drop_column("detail_key")
        batch_op.drop_column("body_sha256")
    with op.batch_alter_table("query_log_detail", schema=None) as batch_op:
        batch_op.drop_index("ix_query_log_detail_created_at")
    op.drop_table("query_log_detail")
