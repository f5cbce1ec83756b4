"""Order numbers in one canonical form; every inbound event's body kept in the inbox.

Order numbers match without regard to case. Until now they were stored as received
and compared with ``upper()`` in some places and exactly in others, so ``mi0001`` and
``MI0001`` could become two orders. From this revision on they are upper-cased at the
boundary (``messages.OrderId``), and this migration brings the stored ones to that
form: every column holding an order number or a credit id (``CR-<order number>``),
and the reminders kept per credit or order. It refuses to run, naming them, if two
stored orders (or credits) differ only by case: ops must decide which one stands.

``credits.credit_id`` is referred to by ``allocations``: a credit to rename is copied
under its new id, its allocations moved to the copy, and the old row deleted, so no
foreign key is ever broken (PostgreSQL's are not deferrable).

The inbox gains ``body_sha256``, the hash of what each event says (type and data), to
tell a redelivery from an id reused for another body; rows already there keep NULL
and are taken for redeliveries. ``payload`` is now kept for every event, not only the
parked ones: nothing to migrate, the column exists.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column) holding an order number or a credit id, credits.credit_id aside.
_ORDER_NUMBER_COLUMNS = (
    ("orders", "order_id"),
    ("transfers", "order_id"),
    ("topups", "order_id"),
    ("inbox", "order_id"),
    ("journal_entries", "order_id"),
    ("journal_entries", "credit_id"),
    ("postings", "credit_id"),
    ("reminders", "subject_id"),
)


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_sha256", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    _refuse_case_twins(connection, "orders", "order_id")
    _refuse_case_twins(connection, "credits", "credit_id")
    _rename_credits(connection)
    for table, column in _ORDER_NUMBER_COLUMNS:
        for old, new in _to_upper(connection, table, column).items():
            connection.execute(
                sa.text(f"UPDATE {table} SET {column} = :new WHERE {column} = :old"),
                {"new": new, "old": old},
            )


def downgrade() -> None:
    # Upper-cased order numbers stay upper-cased: the case they arrived in is gone.
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_column("body_sha256")


def _to_upper(connection: sa.Connection, table: str, column: str) -> dict[str, str]:
    """Stored values of ``table.column`` that are not upper case, and their upper case
    (read in Python: SQLite's ``upper`` knows only ASCII)."""
    values: list[str | None] = list(
        connection.execute(
            sa.select(sa.column(column)).select_from(sa.table(table)).distinct()
        ).scalars()
    )
    return {
        value: value.upper() for value in values if value is not None and value != value.upper()
    }


def _refuse_case_twins(connection: sa.Connection, table: str, column: str) -> None:
    renamed = _to_upper(connection, table, column)
    if not renamed:
        return
    wanted = set(renamed.values())
    existing: list[str] = list(
        connection.execute(sa.select(sa.column(column)).select_from(sa.table(table))).scalars()
    )
    by_canonical: dict[str, list[str]] = defaultdict(list)
    for value in existing:
        if value.upper() in wanted:
            by_canonical[value.upper()].append(value)
    twins = {
        canonical: sorted(values) for canonical, values in by_canonical.items() if len(values) > 1
    }
    if twins:
        listed = "; ".join(" and ".join(values) for values in twins.values())
        raise RuntimeError(
            f"{table}.{column}: these differ only by case and would become one: {listed}. "
            "Decide which one stands (and book the other's money by hand) before upgrading."
        )


def _rename_credits(connection: sa.Connection) -> None:
    renamed = _to_upper(connection, "credits", "credit_id")
    credits = sa.table(
        "credits",
        *(
            sa.column(name)
            for name in (
                "credit_id",
                "customer_id",
                "origin",
                "source_order_id",
                "refundable",
                "granted_at",
                "expires_at",
                "granted_cents",
                "available_cents",
                "held_cents",
                "used_cents",
                "refunded_cents",
                "forfeited_cents",
            )
        ),
    )
    for old, new in renamed.items():
        row = connection.execute(sa.select(credits).where(credits.c.credit_id == old)).one()
        values = dict(row._mapping)
        values["credit_id"] = new
        values["source_order_id"] = values["source_order_id"].upper()
        connection.execute(credits.insert().values(values))
        connection.execute(
            sa.text("UPDATE allocations SET credit_id = :new WHERE credit_id = :old"),
            {"new": new, "old": old},
        )
        connection.execute(sa.text("DELETE FROM credits WHERE credit_id = :old"), {"old": old})
    # Credits already upper-cased whose source order was not (not made by residuo,
    # which derives one from the other; kept for safety).
    for old, new in _to_upper(connection, "credits", "source_order_id").items():
        connection.execute(
            sa.text("UPDATE credits SET source_order_id = :new WHERE source_order_id = :old"),
            {"new": new, "old": old},
        )
