"""Refused bodies kept as bytes: ``rejected_events.body`` becomes ``bytea`` (a BLOB).

A body refused at ingress is whatever a publisher sent: a NUL byte, bytes that are
not UTF-8. PostgreSQL text cannot hold NUL, so reporting such a body failed inside
its transaction, was retried for hours as if the database were down, and the body
was finally dead-lettered with no ``event.rejected``; bytes that were not UTF-8 were
kept with replacement characters. The column now keeps every byte as received.

Existing rows are converted losslessly: PostgreSQL stores each text as its UTF-8
bytes (``convert_to``) in place; SQLite's table is re-created (``batch_alter_table``)
and each value cast to a BLOB, which is its UTF-8 encoding. The downgrade turns the
bytes back into text as the code before this revision wrote it (not UTF-8 replaced
by U+FFFD), and NUL, which the old column could not hold, by U+FFFD too.

Revision ID: 0007_ingress
Revises: 0006_perf
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_ingress"
down_revision: str | None = "0006_perf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REJECTED = "rejected_events"


def upgrade() -> None:
    with op.batch_alter_table(_REJECTED, schema=None) as batch_op:
        batch_op.alter_column(
            "body",
            existing_type=sa.Text(),
            type_=sa.LargeBinary(),
            existing_nullable=False,
            postgresql_using="convert_to(body, 'UTF8')",
        )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite keeps each value's own type whatever the column's: make them BLOBs.
        op.execute(sa.text(f"UPDATE {_REJECTED} SET body = CAST(body AS BLOB)"))


def downgrade() -> None:
    rejected = sa.table(
        _REJECTED,
        sa.column("body_sha256", sa.String()),
        sa.column("body", sa.LargeBinary()),
        sa.column("body_text", sa.Text()),
    )
    with op.batch_alter_table(_REJECTED, schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_text", sa.Text(), nullable=True))
    bind = op.get_bind()
    for digest, body in bind.execute(sa.select(rejected.c.body_sha256, rejected.c.body)).all():
        text = bytes(body).decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        bind.execute(
            rejected.update().where(rejected.c.body_sha256 == digest).values(body_text=text)
        )
    with op.batch_alter_table(_REJECTED, schema=None) as batch_op:
        batch_op.drop_column("body")
        batch_op.alter_column(
            "body_text", new_column_name="body", existing_type=sa.Text(), nullable=False
        )
