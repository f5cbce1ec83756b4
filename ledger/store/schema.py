"""The database schema, written down once.

Conventions:
* identifier columns are sized from ``messages.limits``, the constants the wire models
  validate against, derived ids included (a credit id is ``CR-<order number>``): an
  event the validator accepts always fits;
* money is integer cents (``*_cents``), never binary floating point; every amount column has a
  check constraint on its sign, and holds the amount of one payment, order or credit or
  a part of one: at most ``messages.MAX_AMOUNT`` in cents (99,999,999,999,999), which a
  BigInteger holds 92,233 times over. Sums over many rows have no bound and are never
  stored in a cents column (a sweep's totals are JSON); SQL sums go through
  ``ledger.store.sums``;
* instants are stored in UTC (``UTCDateTime``) and returned timezone-aware;
* ``effective_at`` is business time (when the rule says it happened), ``recorded_at``
  is when residuo wrote it: a replay or a catch-up gives the same effective dates;
* race safety comes from constraints, not read-then-write: the inbox primary key
  makes an event apply once, ``credits.source_order_id`` is unique (R1: one order,
  one credit), a partial unique index funds a new order at most once (R6), and the
  per-credit check ``granted = available + held + used + refunded + forfeited``
  with every bucket ``>= 0`` is R11 enforced by the database itself;
* a daily sweep runs once per business date and kind because ``sweep_runs`` has that
  primary key, and each of its chunks settles once because claiming a chunk is a
  conditional update of its ``sweep_chunks`` row (``pending`` → ``done``).

Migrations (``ledger/store/migrations``) own the schema in production; a test
checks that they never drift from these tables.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
    text,
    true,
)

from messages import limits

__all__ = [
    "OUTBOX_CHANNEL",
    "allocations",
    "corrections",
    "credit_requests",
    "credits",
    "dead_letter_dispositions",
    "event_subjects",
    "inbox",
    "journal_entries",
    "metadata",
    "orders",
    "outbox",
    "postings",
    "rejected_events",
    "reminders",
    "subject_frontiers",
    "sweep_chunks",
    "sweep_runs",
    "topups",
    "transfers",
]


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; SQLite's naive values come back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give an offset")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Stable constraint names, so that migrations can refer to them on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Identifier columns are sized from `messages.limits`, the constants the wire models
# validate against: whatever an inbound event may carry fits, and so does every id
# derived from it (a credit id is ``CR-<order number>``).
OrderId = String(limits.ORDER_ID_MAX_LENGTH)
CreditId = String(limits.CREDIT_ID_MAX_LENGTH)
CustomerId = String(limits.CUSTOMER_ID_MAX_LENGTH)
RequestId = String(limits.REQUEST_ID_MAX_LENGTH)
EventId = String(limits.EVENT_ID_MAX_LENGTH)
EventType = String(limits.EVENT_TYPE_MAX_LENGTH)
ServiceName = String(limits.SERVICE_MAX_LENGTH)
Code = String(limits.CODE_MAX_LENGTH)
# A reminder's subject is a credit or an order; a sweep chunk's bounds are keys of the
# tables the sweeps walk (orders, transfers by request, credits).
ReminderSubject = String(max(limits.CREDIT_ID_MAX_LENGTH, limits.ORDER_ID_MAX_LENGTH))
SweepKey = String(
    max(limits.ORDER_ID_MAX_LENGTH, limits.REQUEST_ID_MAX_LENGTH, limits.CREDIT_ID_MAX_LENGTH)
)
# A subject of the timeline is ``customer:<id>``, ``order:<number>`` or ``sweep:<kind>``.
Subject = String(len("customer:") + limits.CUSTOMER_ID_MAX_LENGTH)
# A notification's id is a UUID (36 characters).
NotificationId = String(64)

# Every inbound event ever applied, by CloudEvent id: the idempotency key, with its
# payload and the hash of what it says (type and data), which tells a redelivery
# from an id reused for another body. An event whose order is not known yet is
# ``parked`` under its ``order_id`` and re-applied when the order's payment arrives.
inbox = Table(
    "inbox",
    metadata,
    Column("event_id", EventId, primary_key=True),
    Column("event_type", EventType, nullable=False),
    Column("status", String(16), nullable=False),
    Column("order_id", OrderId),
    Column("business_time", UTCDateTime),
    # Where the event stands in business-time order when the books are derived again
    # (``ledger.corrections``): its business time, or, for an event later than the
    # allowed lateness, the point its books had reached when it came.
    Column("position", UTCDateTime),
    Column("body_sha256", String(64)),
    Column("payload", JSON),
    Column("detail", Text),
    Column("received_at", UTCDateTime, nullable=False),
    CheckConstraint("status IN ('applied', 'parked', 'refused', 'rejected')", name="status"),
    Index(
        None,
        "order_id",
        sqlite_where=text("status = 'parked'"),
        postgresql_where=text("status = 'parked'"),
    ),
)

# Paid orders (payment.received without a top-up reference) and their activation.
orders = Table(
    "orders",
    metadata,
    Column("order_id", OrderId, primary_key=True),
    Column("customer_id", CustomerId, nullable=False, index=True),
    Column("service", ServiceName, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("paid_at", UTCDateTime, nullable=False),
    Column("method", String(16), nullable=False),
    Column("status", String(24), nullable=False),
    Column("activation_deadline", UTCDateTime),
    Column("activated_at", UTCDateTime),
    Column("failed_at", UTCDateTime),
    Column("cancelled_at", UTCDateTime),
    CheckConstraint("amount_cents > 0", name="amount_positive"),
    CheckConstraint(
        "status IN ('awaiting_activation', 'active', 'failed', 'cancelled')", name="status"
    ),
    Index(
        None,
        "activation_deadline",
        sqlite_where=text("status = 'awaiting_activation'"),
        postgresql_where=text("status = 'awaiting_activation'"),
    ),
)

# One row per credit, with its buckets. The journal is the record; these columns are
# its per-credit projection, kept in the same transaction and checked by tests.
credits = Table(
    "credits",
    metadata,
    Column("credit_id", CreditId, primary_key=True),
    Column("customer_id", CustomerId, nullable=False),
    Column("origin", String(24), nullable=False),
    Column("source_order_id", OrderId, nullable=False, unique=True),
    Column("refundable", Boolean, nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("granted_cents", BigInteger, nullable=False),
    Column("available_cents", BigInteger, nullable=False),
    Column("held_cents", BigInteger, nullable=False, server_default="0"),
    Column("used_cents", BigInteger, nullable=False, server_default="0"),
    Column("refunded_cents", BigInteger, nullable=False, server_default="0"),
    Column("forfeited_cents", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("origin IN ('activation_failed', 'spid_timeout', 'goodwill')", name="origin"),
    CheckConstraint("granted_cents > 0", name="granted_positive"),
    CheckConstraint(
        "available_cents >= 0 AND held_cents >= 0 AND used_cents >= 0"
        " AND refunded_cents >= 0 AND forfeited_cents >= 0",
        name="buckets_non_negative",
    ),
    CheckConstraint(
        "granted_cents = available_cents + held_cents + used_cents"
        " + refunded_cents + forfeited_cents",
        name="buckets_balance",
    ),
    Index(None, "customer_id", "expires_at"),
    Index(
        None,
        "expires_at",
        sqlite_where=text("available_cents > 0"),
        postgresql_where=text("available_cents > 0"),
    ),
)

# Every credit request (transfer or refund) by request_id, whatever its outcome:
# the same request id never acts twice, whatever event id carries it.
credit_requests = Table(
    "credit_requests",
    metadata,
    Column("request_id", RequestId, primary_key=True),
    Column("customer_id", CustomerId, nullable=False),
    Column("action", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", Code),
    CheckConstraint("action IN ('transfer', 'refund')", name="action"),
    CheckConstraint("outcome IN ('applied', 'held', 'refunded', 'rejected')", name="outcome"),
)

# A credit transfer onto a new order (R6): covered at once, or held awaiting a top-up.
# The order it pays has no payment of its own, so its activation is kept here too:
# ``activated_at`` once it went live, ``failed_at`` once its failure gave the credit back.
transfers = Table(
    "transfers",
    metadata,
    Column("request_id", RequestId, ForeignKey("credit_requests.request_id"), primary_key=True),
    Column("order_id", OrderId, nullable=False),
    Column("customer_id", CustomerId, nullable=False),
    Column("order_amount_cents", BigInteger, nullable=False),
    Column("credit_cents", BigInteger, nullable=False),
    Column("paid_cents", BigInteger, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("due_by", UTCDateTime),
    Column("settled_at", UTCDateTime),
    Column("activated_at", UTCDateTime),
    Column("failed_at", UTCDateTime),
    CheckConstraint("order_amount_cents > 0", name="order_amount_positive"),
    CheckConstraint(
        "credit_cents >= 0 AND paid_cents >= 0 AND credit_cents + paid_cents <= order_amount_cents",
        name="never_overfunded",
    ),
    CheckConstraint("status IN ('covered', 'awaiting_topup', 'funded', 'released')", name="status"),
    # R6: the same new order is never funded twice (a released hold frees it again).
    Index(
        None,
        "order_id",
        unique=True,
        sqlite_where=text("status <> 'released'"),
        postgresql_where=text("status <> 'released'"),
    ),
    Index(
        None,
        "due_by",
        sqlite_where=text("status = 'awaiting_topup'"),
        postgresql_where=text("status = 'awaiting_topup'"),
    ),
    # A customer's holds awaiting a top-up, due by an instant: a holds sweep window
    # settles its customers' whole (migration 0009), a request what fell due for its.
    Index(
        None,
        "customer_id",
        "due_by",
        sqlite_where=text("status = 'awaiting_topup'"),
        postgresql_where=text("status = 'awaiting_topup'"),
    ),
    # Every transfer of an order, latest first, whatever its status: what a payment or
    # a top-up looks up (the unique index above leaves released transfers out).
    Index(None, "order_id", "requested_at"),
)

# Which credits a request took, and how much from each (transfers and refunds).
allocations = Table(
    "allocations",
    metadata,
    Column("request_id", RequestId, ForeignKey("credit_requests.request_id"), primary_key=True),
    Column("credit_id", CreditId, ForeignKey("credits.credit_id"), primary_key=True),
    Column("amount_cents", BigInteger, nullable=False),
    CheckConstraint("amount_cents > 0", name="amount_positive"),
)

# Payments whose reference reads "integrazione <order>" (R8), matched or not: a
# top-up that matched nothing is kept, reported, and used if its request comes later.
topups = Table(
    "topups",
    metadata,
    Column("event_id", EventId, primary_key=True),
    Column("order_id", OrderId, nullable=False, index=True),
    Column("customer_id", CustomerId, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("applied_cents", BigInteger, nullable=False, server_default="0"),
    Column("paid_at", UTCDateTime, nullable=False),
    CheckConstraint("amount_cents > 0", name="amount_positive"),
    CheckConstraint("applied_cents >= 0 AND applied_cents <= amount_cents", name="applied_range"),
)

# The journal: append-only. An entry is one balanced movement; corrections are new
# entries. ``cause`` names what caused it (an event id, a sweep, a request, or several
# of those joined): unbounded text, since it is composed, audited and never a key.
journal_entries = Table(
    "journal_entries",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("customer_id", CustomerId, nullable=False, index=True),
    Column("cause", Text, nullable=False),
    Column("order_id", OrderId),
    Column("credit_id", CreditId),
    Column("effective_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("memo", Text, nullable=False),
    # A correction is a new entry, never an edit: a reversal points at the entry it
    # cancels (same effective time, postings negated), and both it and the entries a
    # correction books in its place name the correction.
    Column("reverses_entry_id", Integer, ForeignKey("journal_entries.entry_id"), index=True),
    Column("correction_id", Integer, ForeignKey("corrections.correction_id")),
)

# Late evidence and operator adjustments (``ledger.corrections``): one row per
# correction, the entries it booked point at it. ``summary`` counts what it changed.
corrections = Table(
    "corrections",
    metadata,
    Column("correction_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("event_id", EventId, nullable=False),
    Column("operator", String(limits.OPERATOR_MAX_LENGTH)),
    Column("note", Text),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("summary", JSON, nullable=False),
    CheckConstraint("kind IN ('late_evidence', 'adjustment')", name="kind"),
)

# The lines of an entry: signed cents, debit positive, credit negative; the lines of
# one entry sum to zero (checked before insert, and by the test suite).
postings = Table(
    "postings",
    metadata,
    Column("posting_id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", Integer, ForeignKey("journal_entries.entry_id"), nullable=False, index=True),
    Column("account", String(32), nullable=False),
    Column("customer_id", CustomerId, nullable=False),
    Column("credit_id", CreditId),
    Column("amount_cents", BigInteger, nullable=False),
    CheckConstraint("amount_cents <> 0", name="amount_nonzero"),
    Index(None, "customer_id", "account"),
)

OUTBOX_CHANNEL = "residuo_outbox"
"""PostgreSQL: the channel notified when outbox rows commit (a statement trigger made
by migration 0005_perf), which relays ``LISTEN`` on to wake up without polling."""

# The transactional outbox: a notification row commits with the change it reports.
# ``notification_id`` is derived from what caused it, so a rerun cannot add a twin.
# On PostgreSQL an insert also notifies ``OUTBOX_CHANNEL`` (see above).
outbox = Table(
    "outbox",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("notification_id", String(64), nullable=False, unique=True),
    Column("type", EventType, nullable=False),
    Column("customer_id", CustomerId),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime),
    # ``derived``: said by the rules about the books (not a reminder, a sweep summary or
    # a report on a broken event), so a correction may void it; ``rule_key`` the id its
    # cause gives it (``notification_id`` differs when it was told anew after a void);
    # ``event_id`` the event whose application said it; ``voided_by`` the notification
    # that took it back.
    Column("derived", Boolean, nullable=False, server_default=false()),
    Column("rule_key", NotificationId),
    Column("event_id", EventId),
    Column("voided_by", NotificationId),
    Index(None, "customer_id", sqlite_where=text("derived"), postgresql_where=text("derived")),
    Index(
        None,
        "position",
        sqlite_where=text("published_at IS NULL"),
        postgresql_where=text("published_at IS NULL"),
    ),
)

# R10: each reminder at most once, per subject (credit or order), deadline and offset.
reminders = Table(
    "reminders",
    metadata,
    Column("subject_id", ReminderSubject, primary_key=True),
    Column("kind", String(32), primary_key=True),
    # The deadline the reminder spoke of: a credit given a new expiry by hand is
    # reminded again of the new one (R10).
    Column("deadline", UTCDateTime, primary_key=True),
    Column("days_before", Integer, primary_key=True),
    Column("sent_at", UTCDateTime, nullable=False),
)

# What each event names: ``customer:<id>`` and ``order:<number>`` subjects. Events that
# share a subject may change each other's outcome, so a late event re-derives the
# component of events its subjects connect (``ledger.corrections``).
event_subjects = Table(
    "event_subjects",
    metadata,
    Column("subject", Subject, primary_key=True),
    Column("event_id", EventId, primary_key=True),
    Index(None, "event_id"),
)

# How far in business time the books of each subject have been written: the latest
# position of an event naming it and the latest effective time of an entry booked for
# it (``sweep:<kind>`` rows: the latest ``as_of`` of that sweep, up to which it settled
# everything due). An event before its subjects' frontier is late; the largest frontier
# is the watermark. ``rederivable`` is
# false for a customer whose history predates kept payloads (migration 0005).
subject_frontiers = Table(
    "subject_frontiers",
    metadata,
    Column("subject", Subject, primary_key=True),
    Column("frontier", UTCDateTime, nullable=False, index=True),
    Column("rederivable", Boolean, nullable=False, server_default=true()),
)

# Every instant each sweep kind settled as of: a derivation settles the sweeps at the
# instants they really ran, in the order they ran (``ledger.corrections``).
sweep_log = Table(
    "sweep_log",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("as_of", UTCDateTime, primary_key=True),
)

# Events that can never be valid (bad JSON, wrong schema): kept for ops with their
# reason, keyed by the body's hash so each distinct body is reported once. ``body`` is
# bytes, kept as received: a refused body may hold NUL or bytes that are not UTF-8,
# which no text column (PostgreSQL's least of all) can hold.
rejected_events = Table(
    "rejected_events",
    metadata,
    Column("body_sha256", String(64), primary_key=True),
    Column("event_id", EventId),
    Column("event_type", EventType),
    Column("reason", Code, nullable=False),
    Column("detail", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

# What ops decided about each dead letter they took out of a ``.XQ`` queue: ``dropped``
# (only what identifies it is kept), ``archived`` (its body too) or ``replayed`` to its
# queue; who (``operator``), when and why (``operator_reason``), for audit, beside why
# it had been dead-lettered (``reason``, ``detail``). ``dead_letter_id`` is the id ``dead-letters
# list`` shows (``sha256:<hex>`` of an event body, or a Dramatiq message id). A row is
# written before the dead letter is removed, so a crash between the two leaves an audit
# row twice rather than a removal without one.
dead_letter_dispositions = Table(
    "dead_letter_dispositions",
    metadata,
    Column("disposition_id", Integer, primary_key=True, autoincrement=True),
    Column("dead_letter_id", String(limits.DEAD_LETTER_ID_MAX_LENGTH), nullable=False, index=True),
    Column("queue", String(255), nullable=False),
    Column("action", String(16), nullable=False),
    Column("event_id", EventId),
    Column("event_type", EventType),
    Column("reason", String(limits.CODE_MAX_LENGTH), nullable=False),
    Column("detail", Text),
    Column("dead_lettered_at", UTCDateTime),
    Column("operator", String(limits.OPERATOR_MAX_LENGTH), nullable=False),
    Column("operator_reason", Text),
    Column("decided_at", UTCDateTime, nullable=False),
    Column("body", LargeBinary),
    CheckConstraint("action IN ('dropped', 'archived', 'replayed')", name="action"),
    CheckConstraint("action = 'replayed' OR operator_reason IS NOT NULL", name="reason_given"),
    CheckConstraint("(action = 'archived') = (body IS NOT NULL)", name="body_iff_archived"),
)

# The scheduler's run keys: one row per sweep kind and business date, inserted by the
# scheduler replica that claims the run (``INSERT … ON CONFLICT DO NOTHING``). A run
# is ``claimed`` (sent to a worker), then ``running`` once a worker has cut it into
# chunks, and ``completed`` when its last chunk is settled; ``counts`` and ``cents``
# are then the totals of its ``sweep.completed``. ``progress_at`` moves whenever the
# run advances, so a run that stopped advancing is re-sent, never one that is busy.
sweep_runs = Table(
    "sweep_runs",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("as_of", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("send_count", Integer, nullable=False, server_default="1"),
    Column("started_at", UTCDateTime),
    Column("progress_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("chunks_total", Integer, nullable=False, server_default="0"),
    Column("chunks_done", Integer, nullable=False, server_default="0"),
    Column("counts", JSON),
    Column("cents", JSON),
    CheckConstraint("status IN ('claimed', 'running', 'completed')", name="status"),
    CheckConstraint("chunks_done >= 0 AND chunks_done <= chunks_total", name="chunks_range"),
    CheckConstraint("send_count >= 1", name="send_count_positive"),
    Index(None, "business_date"),
)

# A run's work, cut into key ranges of the swept table (``after_key`` exclusive,
# ``upto_key`` inclusive, NULL meaning unbounded) so that several workers share it.
# A chunk settles in one transaction that also flips it to ``done`` and counts it on
# its run: a crashed chunk left no trace and is simply settled again.
sweep_chunks = Table(
    "sweep_chunks",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("chunk_no", Integer, primary_key=True),
    Column("pass_name", String(32), nullable=False),
    Column("after_key", SweepKey),
    Column("upto_key", SweepKey),
    Column("status", String(16), nullable=False),
    Column("settled_at", UTCDateTime),
    Column("counts", JSON),
    Column("cents", JSON),
    CheckConstraint("status IN ('pending', 'done')", name="status"),
    CheckConstraint("chunk_no >= 0", name="chunk_no_non_negative"),
    ForeignKeyConstraint(
        ["kind", "business_date"], ["sweep_runs.kind", "sweep_runs.business_date"]
    ),
)
