"""Identifier columns sized from the wire's limits; ``journal_entries.cause`` unbounded.

A credit's id is ``CR-<order number>``, and order numbers may be 64 characters long:
every column holding a credit id (``credits``, ``allocations``, ``journal_entries``,
``postings``) grows from 64 to 67 characters, and so do those that may hold one
(``reminders.subject_id``, the key bounds of ``sweep_chunks``). Before this, a
62-character order could be paid but never credited. ``journal_entries.cause`` joins
several ids (``<event id>|matched|<request id>``) and is never a key: it becomes
``text``. See ``messages.limits``.

Only widening: no value is cut. PostgreSQL changes ``varchar`` lengths and
``varchar`` to ``text`` in place, without rewriting the tables. SQLite does not
enforce lengths, but its tables are re-created (``batch_alter_table``) so that the
declared types match; ``allocations`` rows are set aside meanwhile, because dropping
the old ``credits`` under them would break their foreign key.

Revision ID: 0004_poison
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_poison"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_ID = sa.String(length=64)
_CREDIT_ID = sa.String(length=67)

# Table → columns that hold a credit id (or a key that may be one).
_WIDENED: dict[str, tuple[str, ...]] = {
    "credits": ("credit_id",),
    "allocations": ("credit_id",),
    "journal_entries": ("credit_id",),
    "postings": ("credit_id",),
    "reminders": ("subject_id",),
    "sweep_chunks": ("after_key", "upto_key"),
}


def upgrade() -> None:
    _set_allocations_aside()
    for table, columns in _WIDENED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=_OLD_ID, type_=_CREDIT_ID)
            if table == "journal_entries":
                batch_op.alter_column(
                    "cause",
                    existing_type=sa.String(length=255),
                    type_=sa.Text(),
                    existing_nullable=False,
                )
    _put_allocations_back()


def downgrade() -> None:
    _set_allocations_aside()
    for table, columns in reversed(_WIDENED.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "journal_entries":
                batch_op.alter_column(
                    "cause",
                    existing_type=sa.Text(),
                    type_=sa.String(length=255),
                    existing_nullable=False,
                )
            for column in columns:
                batch_op.alter_column(column, existing_type=_CREDIT_ID, type_=_OLD_ID)
    _put_allocations_back()


# Re-creating ``credits`` on SQLite drops the table ``allocations`` refers to; with
# foreign keys enforced (residuo's SQLite connections enforce them, and the pragma
# cannot be turned off inside the migration's transaction) the drop fails on any
# allocation. Its rows wait in a temporary table until ``credits`` is back.


def _set_allocations_aside() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TEMPORARY TABLE allocations_aside AS SELECT * FROM allocations")
        op.execute("DELETE FROM allocations")


def _put_allocations_back() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "INSERT INTO allocations (request_id, credit_id, amount_cents)"
            " SELECT request_id, credit_id, amount_cents FROM allocations_aside"
        )
        op.execute("DROP TABLE allocations_aside")
