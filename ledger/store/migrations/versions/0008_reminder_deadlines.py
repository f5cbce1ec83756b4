"""A reminder is sent once per deadline, not once per subject: ``reminders.deadline``.

A reminder was kept as (subject, kind, days before), so when an operator gave a credit
a new expiry (``adjust extend``, ``adjust reinstate --until``) the reminders sent for
the old one counted as sent for the new one, and the credit was forfeited at its new
expiry without a word (R10). The deadline a reminder spoke of is now part of its key.

Existing rows take the deadline their subject has now (a credit's ``expires_at``, a
SPID order's ``activation_deadline``), which is the one they were sent for unless it
was moved since; a row whose subject is gone takes its ``sent_at``. The downgrade
keeps one row per (subject, kind, days before): the latest deadline's.

Revision ID: 0008_reminders
Revises: 0007_ingress
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_reminders"
down_revision: str | None = "0007_ingress"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KEY = ["subject_id", "kind", "days_before"]


def upgrade() -> None:
    with op.batch_alter_table("reminders") as batch_op:
        batch_op.add_column(sa.Column("deadline", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE reminders SET deadline = (SELECT credits.expires_at FROM credits "
        "WHERE credits.credit_id = reminders.subject_id) WHERE kind = 'credit_expiry'"
    )
    op.execute(
        "UPDATE reminders SET deadline = (SELECT orders.activation_deadline FROM orders "
        "WHERE orders.order_id = reminders.subject_id) WHERE kind = 'spid_deadline'"
    )
    op.execute("UPDATE reminders SET deadline = sent_at WHERE deadline IS NULL")
    with op.batch_alter_table("reminders", recreate="always") as batch_op:
        batch_op.alter_column("deadline", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_constraint("pk_reminders", type_="primary")
        batch_op.create_primary_key("pk_reminders", [*_OLD_KEY[:2], "deadline", "days_before"])


def downgrade() -> None:
    op.execute(
        "DELETE FROM reminders WHERE EXISTS (SELECT 1 FROM reminders AS later "
        "WHERE later.subject_id = reminders.subject_id AND later.kind = reminders.kind "
        "AND later.days_before = reminders.days_before AND later.deadline > reminders.deadline)"
    )
    with op.batch_alter_table("reminders", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_reminders", type_="primary")
        batch_op.create_primary_key("pk_reminders", _OLD_KEY)
        batch_op.drop_column("deadline")
