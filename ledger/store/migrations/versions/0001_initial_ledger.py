"""The ledger: inbox, orders, credits, requests, transfers, journal, outbox.

Creates every table of ``ledger.store.schema`` as of the first release: the inbox
that makes events idempotent, the credits with their balance check (R11), the
append-only journal and its postings, the transactional outbox, and the reminder
and rejection records. Instants are ``timestamptz`` on PostgreSQL; SQLite stores UTC.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "credit_requests",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "action IN ('transfer', 'refund')", name=op.f("ck_credit_requests_action")
        ),
        sa.CheckConstraint(
            "outcome IN ('applied', 'held', 'refunded', 'rejected')",
            name=op.f("ck_credit_requests_outcome"),
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_credit_requests")),
    )
    op.create_table(
        "credits",
        sa.Column("credit_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("origin", sa.String(length=24), nullable=False),
        sa.Column("source_order_id", sa.String(length=64), nullable=False),
        sa.Column("refundable", sa.Boolean(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_cents", sa.BigInteger(), nullable=False),
        sa.Column("available_cents", sa.BigInteger(), nullable=False),
        sa.Column("held_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("used_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("forfeited_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "origin IN ('activation_failed', 'spid_timeout')", name=op.f("ck_credits_origin")
        ),
        sa.CheckConstraint(
            "available_cents >= 0 AND held_cents >= 0 AND used_cents >= 0 AND refunded_cents >= 0 AND forfeited_cents >= 0",
            name=op.f("ck_credits_buckets_non_negative"),
        ),
        sa.CheckConstraint(
            "granted_cents = available_cents + held_cents + used_cents + refunded_cents + forfeited_cents",
            name=op.f("ck_credits_buckets_balance"),
        ),
        sa.CheckConstraint("granted_cents > 0", name=op.f("ck_credits_granted_positive")),
        sa.PrimaryKeyConstraint("credit_id", name=op.f("pk_credits")),
        sa.UniqueConstraint("source_order_id", name=op.f("uq_credits_source_order_id")),
    )
    with op.batch_alter_table("credits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credits_customer_id_expires_at"),
            ["customer_id", "expires_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_credits_expires_at"),
            ["expires_at"],
            unique=False,
            sqlite_where=sa.text("available_cents > 0"),
            postgresql_where=sa.text("available_cents > 0"),
        )

    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("business_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('applied', 'parked', 'refused', 'rejected')", name=op.f("ck_inbox_status")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_inbox")),
    )
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbox_order_id"),
            ["order_id"],
            unique=False,
            sqlite_where=sa.text("status = 'parked'"),
            postgresql_where=sa.text("status = 'parked'"),
        )

    op.create_table(
        "journal_entries",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("cause", sa.String(length=255), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("credit_id", sa.String(length=64), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_journal_entries")),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_journal_entries_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("activation_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('awaiting_activation', 'active', 'failed', 'cancelled')",
            name=op.f("ck_orders_status"),
        ),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_orders_amount_positive")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_activation_deadline"),
            ["activation_deadline"],
            unique=False,
            sqlite_where=sa.text("status = 'awaiting_activation'"),
            postgresql_where=sa.text("status = 'awaiting_activation'"),
        )
        batch_op.create_index(batch_op.f("ix_orders_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("position", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_outbox")),
        sa.UniqueConstraint("notification_id", name=op.f("uq_outbox_notification_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_position"),
            ["position"],
            unique=False,
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        )

    op.create_table(
        "rejected_events",
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("body_sha256", name=op.f("pk_rejected_events")),
    )
    op.create_table(
        "reminders",
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", "kind", "days_before", name=op.f("pk_reminders")),
    )
    op.create_table(
        "topups",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("applied_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_topups_amount_positive")),
        sa.CheckConstraint(
            "applied_cents >= 0 AND applied_cents <= amount_cents",
            name=op.f("ck_topups_applied_range"),
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_topups")),
    )
    with op.batch_alter_table("topups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_topups_order_id"), ["order_id"], unique=False)

    op.create_table(
        "allocations",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("credit_id", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_allocations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.credit_id"], name=op.f("fk_allocations_credit_id_credits")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["credit_requests.request_id"],
            name=op.f("fk_allocations_request_id_credit_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", "credit_id", name=op.f("pk_allocations")),
    )
    op.create_table(
        "postings",
        sa.Column("posting_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("credit_id", sa.String(length=64), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_postings_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entries.entry_id"],
            name=op.f("fk_postings_entry_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("posting_id", name=op.f("pk_postings")),
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_postings_customer_id_account"), ["customer_id", "account"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_postings_entry_id"), ["entry_id"], unique=False)

    op.create_table(
        "transfers",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("order_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("credit_cents", sa.BigInteger(), nullable=False),
        sa.Column("paid_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('covered', 'awaiting_topup', 'funded', 'released')",
            name=op.f("ck_transfers_status"),
        ),
        sa.CheckConstraint(
            "credit_cents >= 0 AND paid_cents >= 0 AND credit_cents + paid_cents <= order_amount_cents",
            name=op.f("ck_transfers_never_overfunded"),
        ),
        sa.CheckConstraint(
            "order_amount_cents > 0", name=op.f("ck_transfers_order_amount_positive")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["credit_requests.request_id"],
            name=op.f("fk_transfers_request_id_credit_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_transfers")),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfers_due_by"),
            ["due_by"],
            unique=False,
            sqlite_where=sa.text("status = 'awaiting_topup'"),
            postgresql_where=sa.text("status = 'awaiting_topup'"),
        )
        batch_op.create_index(
            batch_op.f("ix_transfers_order_id"),
            ["order_id"],
            unique=True,
            sqlite_where=sa.text("status <> 'released'"),
            postgresql_where=sa.text("status <> 'released'"),
        )


def downgrade() -> None:

    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_transfers_order_id"),
            sqlite_where=sa.text("status <> 'released'"),
            postgresql_where=sa.text("status <> 'released'"),
        )
        batch_op.drop_index(
            batch_op.f("ix_transfers_due_by"),
            sqlite_where=sa.text("status = 'awaiting_topup'"),
            postgresql_where=sa.text("status = 'awaiting_topup'"),
        )

    op.drop_table("transfers")
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postings_entry_id"))
        batch_op.drop_index(batch_op.f("ix_postings_customer_id_account"))

    op.drop_table("postings")
    op.drop_table("allocations")
    with op.batch_alter_table("topups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_topups_order_id"))

    op.drop_table("topups")
    op.drop_table("reminders")
    op.drop_table("rejected_events")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_outbox_position"),
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("outbox")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_customer_id"))
        batch_op.drop_index(
            batch_op.f("ix_orders_activation_deadline"),
            sqlite_where=sa.text("status = 'awaiting_activation'"),
            postgresql_where=sa.text("status = 'awaiting_activation'"),
        )

    op.drop_table("orders")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_entries_customer_id"))

    op.drop_table("journal_entries")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_inbox_order_id"),
            sqlite_where=sa.text("status = 'parked'"),
            postgresql_where=sa.text("status = 'parked'"),
        )

    op.drop_table("inbox")
    with op.batch_alter_table("credits", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_credits_expires_at"),
            sqlite_where=sa.text("available_cents > 0"),
            postgresql_where=sa.text("available_cents > 0"),
        )
        batch_op.drop_index(batch_op.f("ix_credits_customer_id_expires_at"))

    op.drop_table("credits")
    op.drop_table("credit_requests")
