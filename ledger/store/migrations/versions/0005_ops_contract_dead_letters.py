"""Dead-letter dispositions: what ops decided about each dead letter.

* ``dead_letter_dispositions``: one row each time ops drop, archive or replay a dead
  letter (``residuo dead-letters drop|archive|replay``), with the dead letter's id,
  queue, event id and type, why it had been dead-lettered (``reason``, ``detail``)
  and when, who decided (``operator``), why (``operator_reason``) and when; an
  archived one keeps its body (``bytea`` on PostgreSQL, a BLOB on SQLite). Checks: a drop or an archive gives a reason, and only an archive keeps the
  body. Indexed by dead-letter id.

A new table only: nothing existing is touched.

Revision ID: 0005_ops_contract
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_ops_contract"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letter_dispositions",
        sa.Column("disposition_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dead_letter_id", sa.String(length=71), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("dead_lettered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("operator", sa.String(length=255), nullable=False),
        sa.Column("operator_reason", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint(
            "action IN ('dropped', 'archived', 'replayed')",
            name=op.f("ck_dead_letter_dispositions_action"),
        ),
        sa.CheckConstraint(
            "action = 'replayed' OR operator_reason IS NOT NULL",
            name=op.f("ck_dead_letter_dispositions_reason_given"),
        ),
        sa.CheckConstraint(
            "(action = 'archived') = (body IS NOT NULL)",
            name=op.f("ck_dead_letter_dispositions_body_iff_archived"),
        ),
        sa.PrimaryKeyConstraint("disposition_id", name=op.f("pk_dead_letter_dispositions")),
    )
    with op.batch_alter_table("dead_letter_dispositions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dead_letter_dispositions_dead_letter_id"),
            ["dead_letter_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("dead_letter_dispositions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letter_dispositions_dead_letter_id"))
    op.drop_table("dead_letter_dispositions")
