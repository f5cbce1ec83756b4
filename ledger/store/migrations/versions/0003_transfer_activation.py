"""The activation of orders paid with credit: ``transfers.activated_at`` and ``failed_at``.

An order funded by a credit transfer (R6) has no payment, hence no ``orders`` row, yet
upstream still reports its activation. These two nullable instants record it on the
transfer: ``activated_at`` once the order went live, ``failed_at`` once its failure
gave the credit back (R1). Existing rows stay NULL: nothing was recorded before.

``batch_alter_table`` adds the columns in place on SQLite (no table copy is needed to
add a nullable column) and with ``ALTER TABLE`` on PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_column("failed_at")
        batch_op.drop_column("activated_at")
