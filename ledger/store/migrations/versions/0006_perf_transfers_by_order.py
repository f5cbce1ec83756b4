"""Every transfer of an order found by index: ``ix_transfers_order_id_requested_at``.

A payment, a top-up and a transfer request each look up the transfers of their
order number whatever their status (the one funding it, or the last one, released
or failed): ``order_id = …`` with a condition on the status that the partial unique
index ``ix_transfers_order_id`` (``status <> 'released'``) cannot serve, so each
read the whole table. With a hundred thousand transfers booked that scan was most of
an event's time; this index makes the lookup a few page reads, and its
``requested_at`` serves the "latest first" order of the same lookups.

Revision ID: 0006_perf
Revises: 0005_perf
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_perf"
down_revision: str | None = "0005_perf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_transfers_order_id_requested_at", "transfers", ["order_id", "requested_at"])


def downgrade() -> None:
    op.drop_index("ix_transfers_order_id_requested_at", table_name="transfers")
