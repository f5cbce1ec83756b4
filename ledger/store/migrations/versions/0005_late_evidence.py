"""Late evidence: what a re-derivation of the books needs, and corrections as entries.

* ``inbox.position``: where an event stands in business-time order (its business time,
  or the point its books had reached if it came later than the allowed lateness);
  backfilled with the business time;
* ``event_subjects``: the customers and orders each event names;
* ``subject_frontiers``: how far in business time each subject's books reach (the
  largest is the watermark), and each sweep kind's latest ``as_of`` (from
  ``sweep_runs``). Every customer and order already in the books gets a row
  marked not ``rederivable``: their events' payloads were not all kept before 0004, so
  a late event touching them is judged against the books as they stand, and reported;
  events still parked are filed under their order (their payloads were kept);
* ``sweep_log``: every ``as_of`` each sweep kind ran at (from ``sweep_runs``);
* ``corrections``, and on ``journal_entries`` ``reverses_entry_id`` (a reversal points
  at the entry it cancels) and ``correction_id``;
* on ``outbox``: ``derived`` (false for rows already there), ``rule_key``, ``event_id``,
  ``voided_by``;
* credits of a new origin, ``goodwill`` (granted by an operator, ``residuo adjust``).

Revision ID: 0005
Revises: 0004_poison
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004_poison"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_JOURNAL_REFERENCES = {
    "reverses_entry_id": "journal_entries.entry_id",
    "correction_id": "corrections.correction_id",
}


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("correction_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("operator", sa.String(length=255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('late_evidence', 'adjustment')", name=op.f("ck_corrections_kind")
        ),
        sa.PrimaryKeyConstraint("correction_id", name=op.f("pk_corrections")),
    )
    op.create_table(
        "event_subjects",
        sa.Column("subject", sa.String(length=264), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("subject", "event_id", name=op.f("pk_event_subjects")),
    )
    op.create_index(op.f("ix_event_subjects_event_id"), "event_subjects", ["event_id"])
    op.create_table(
        "subject_frontiers",
        sa.Column("subject", sa.String(length=264), nullable=False),
        sa.Column("frontier", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rederivable", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_subject_frontiers")),
    )
    op.create_index(op.f("ix_subject_frontiers_frontier"), "subject_frontiers", ["frontier"])
    op.create_table(
        "sweep_log",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "as_of", name=op.f("pk_sweep_log")),
    )
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.DateTime(timezone=True), nullable=True))
    # Added in place, references and all: the journal, the largest table, is never
    # copied (SQLite can add a nullable column with a named reference, but not add a
    # constraint to an existing one, hence its own statement).
    for column, target in _JOURNAL_REFERENCES.items():
        name = f"fk_journal_entries_{column}_{target.split('.')[0]}"
        if op.get_bind().dialect.name == "sqlite":
            table, key = target.split(".")
            op.execute(
                f"ALTER TABLE journal_entries ADD COLUMN {column} INTEGER "
                f"CONSTRAINT {name} REFERENCES {table} ({key})"
            )
        else:
            op.add_column("journal_entries", sa.Column(column, sa.Integer(), nullable=True))
            op.create_foreign_key(
                name, "journal_entries", target.split(".")[0], [column], [target.split(".")[1]]
            )
    op.create_index(
        op.f("ix_journal_entries_reverses_entry_id"), "journal_entries", ["reverses_entry_id"]
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("derived", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("rule_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("event_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("voided_by", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_outbox_customer_id"),
            ["customer_id"],
            sqlite_where=sa.text("derived"),
            postgresql_where=sa.text("derived"),
        )
    _set_allocations_aside()
    with op.batch_alter_table("credits", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_credits_origin"), type_="check")
        batch_op.create_check_constraint(
            "origin", "origin IN ('activation_failed', 'spid_timeout', 'goodwill')"
        )
    _put_allocations_back()
    op.execute("UPDATE inbox SET position = business_time")
    _backfill()


# Re-creating ``credits`` on SQLite (``batch_alter_table``, to change its check) drops
# the table ``allocations`` refers to, which fails on any allocation with foreign keys
# enforced: its rows wait in a temporary table until ``credits`` is back (as in 0004).


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


def _backfill() -> None:
    """What the books already hold reaches as far as it reaches, and is not re-derived:
    every customer and order with a row anywhere in the books (a request refused
    without an entry, a top-up, a transfer's order included). An event still parked
    waiting for its payment kept its payload: it is filed under its order, so the
    derivation that follows its payment replays it."""
    customers = " UNION ALL ".join(
        f"SELECT customer_id AS who, {instant} AS at FROM {table}"
        for table, instant in (
            ("journal_entries", "effective_at"),
            ("orders", "paid_at"),
            ("credits", "granted_at"),
            ("credit_requests", "requested_at"),
            ("transfers", "requested_at"),
            ("topups", "paid_at"),
        )
    )
    orders = " UNION ALL ".join(
        f"SELECT order_id AS who, {instant} AS at FROM {table}"
        for table, instant in (
            ("orders", "paid_at"),
            ("transfers", "requested_at"),
            ("topups", "paid_at"),
        )
    )
    for prefix, rows in (("customer:", customers), ("order:", orders)):
        op.execute(
            "INSERT INTO subject_frontiers (subject, frontier, rederivable) "
            f"SELECT '{prefix}' || who, max(at), false FROM ({rows}) AS known GROUP BY who"
        )
    op.execute(
        "INSERT INTO event_subjects (subject, event_id) "
        "SELECT 'order:' || order_id, event_id FROM inbox "
        "WHERE status = 'parked' AND order_id IS NOT NULL"
    )
    op.execute("INSERT INTO sweep_log (kind, as_of) SELECT DISTINCT kind, as_of FROM sweep_runs")
    op.execute(
        "INSERT INTO subject_frontiers (subject, frontier, rederivable) "
        "SELECT 'sweep:' || kind, max(as_of), true FROM sweep_runs GROUP BY kind"
    )


def downgrade() -> None:
    _set_allocations_aside()
    with op.batch_alter_table("credits", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_credits_origin"), type_="check")
        batch_op.create_check_constraint(
            "origin", "origin IN ('activation_failed', 'spid_timeout')"
        )
    _put_allocations_back()
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_customer_id"))
        batch_op.drop_column("voided_by")
        batch_op.drop_column("event_id")
        batch_op.drop_column("rule_key")
        batch_op.drop_column("derived")
    op.drop_index(op.f("ix_journal_entries_reverses_entry_id"), table_name="journal_entries")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        # SQLite's reflection does not name a reference added with its column (upgrade):
        # the table copied without the column is copied without it.
        if op.get_bind().dialect.name != "sqlite":
            for column, target in _JOURNAL_REFERENCES.items():
                name = f"fk_journal_entries_{column}_{target.split('.')[0]}"
                batch_op.drop_constraint(name, type_="foreignkey")
        batch_op.drop_column("correction_id")
        batch_op.drop_column("reverses_entry_id")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_column("position")
    op.drop_table("sweep_log")
    op.drop_index(op.f("ix_subject_frontiers_frontier"), table_name="subject_frontiers")
    op.drop_table("subject_frontiers")
    op.drop_index(op.f("ix_event_subjects_event_id"), table_name="event_subjects")
    op.drop_table("event_subjects")
    op.drop_table("corrections")
