"""A customer's holds awaiting a top-up found by index: ``ix_transfers_customer_id_due_by``.

A holds sweep window settles every lapsed hold of the customers it names
(``SweepPass.whole_customers``), and a request first settles what fell due for its
customer (``fell_due.settle_what_fell_due``). Both ask for one customer's holds
awaiting a top-up, due by an instant. The partial index on ``due_by`` alone read every
lapsed hold of every customer to find them: a window per thousand holds, each reading
them all, made a sweep of a million lapsed holds quadratic. Partial like that one
(only holds awaiting a top-up are ever asked for), so it stays as small as the holds
still open.

Revision ID: 0009_holds_by_customer
Revises: 0008_reminders
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_holds_by_customer"
down_revision: str | None = "0008_reminders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AWAITING = "status = 'awaiting_topup'"


def upgrade() -> None:
    op.create_index(
        "ix_transfers_customer_id_due_by",
        "transfers",
        ["customer_id", "due_by"],
        sqlite_where=sa.text(_AWAITING),
        postgresql_where=sa.text(_AWAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_transfers_customer_id_due_by", table_name="transfers")
