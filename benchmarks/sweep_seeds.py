"""Due rows for every sweep kind, made with set-based SQL, and each kind's SQL baseline.

``seed(engine, kind, n)`` empties the database and makes ``n`` rows due at ``AS_OF``
for the sweep ``kind``, with the journal that booked them so the books balance.
``BASELINES[kind]`` is the same sweep written as one statement of data-modifying
common table expressions: what a hand-written set-based settlement costs on the
same rows (the bucket or status change, the journal entries and postings, the
outbox rows with a JSON payload built by the server), the yardstick the ledger's
chunked sweep is measured against. The baselines skip what the seeded rows never
need (forfeiture on release, returned top-ups) and do not check the rules.
"""

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Engine, text

from ledger.store.schema import metadata

__all__ = ["AS_OF", "BASELINES", "BUSINESS_DATE", "KINDS", "seed"]

AS_OF: Final = datetime(2027, 3, 1, 3, 30, tzinfo=UTC)
BUSINESS_DATE: Final = AS_OF.date()
KINDS: Final = ("expiry", "spid_timeout", "holds", "reminders")
_PAID_AT: Final = datetime(2026, 1, 10, 8, 30, tzinfo=UTC)

_ORDERS = """
    INSERT INTO orders (order_id, customer_id, service, amount_cents, paid_at, method,
                        status, activation_deadline, failed_at)
    SELECT 'BM' || lpad(i::text, 9, '0'), 'customer-' || (i / 10), CAST(:service AS text),
           1000 + i % 9000, CAST(:paid_at AS timestamptz), 'card', CAST(:status AS text),
           CASE WHEN CAST(:service AS text) = 'spid'
                THEN CAST(:paid_at AS timestamptz) + interval '90 days' END,
           CASE WHEN CAST(:status AS text) = 'failed'
                THEN CAST(:paid_at AS timestamptz) + interval '1 day' END
    FROM generate_series(1, :n) AS i
"""
_PAID = """
    WITH paid AS (
        INSERT INTO journal_entries (kind, customer_id, cause, order_id, effective_at,
                                     recorded_at, memo)
        SELECT 'order_paid', customer_id, 'seed-' || order_id, order_id, paid_at, now(),
               'payment for order ' || order_id
        FROM orders
        RETURNING entry_id, customer_id, order_id
    )
    INSERT INTO postings (entry_id, account, customer_id, credit_id, amount_cents)
    SELECT paid.entry_id, line.account, paid.customer_id, NULL, line.sign * orders.amount_cents
    FROM paid JOIN orders USING (order_id)
    CROSS JOIN (VALUES ('cash', 1), ('order_prepayments', -1)) AS line (account, sign)
"""
_CREDITS = """
    INSERT INTO credits (credit_id, customer_id, origin, source_order_id, refundable,
                         granted_at, expires_at, granted_cents, available_cents)
    SELECT 'CR-' || order_id, customer_id, 'activation_failed', order_id, false,
           failed_at, :expires_at + (amount_cents % 1440) * interval '1 minute',
           amount_cents, amount_cents
    FROM orders
"""
_GRANTED = """
    WITH granted AS (
        INSERT INTO journal_entries (kind, customer_id, cause, order_id, credit_id,
                                     effective_at, recorded_at, memo)
        SELECT 'credit_granted', customer_id, 'seed-' || credit_id, source_order_id,
               credit_id, granted_at, now(), 'credit from order ' || source_order_id
        FROM credits
        RETURNING entry_id, customer_id, credit_id
    )
    INSERT INTO postings (entry_id, account, customer_id, credit_id, amount_cents)
    SELECT granted.entry_id, line.account, granted.customer_id, granted.credit_id,
           line.sign * credits.granted_cents
    FROM granted JOIN credits USING (credit_id)
    CROSS JOIN (VALUES ('order_prepayments', 1), ('credit_available', -1))
        AS line (account, sign)
"""
# Each credit wholly held by a transfer onto a new order twice its size, due a day
# before AS_OF: the holds sweep releases every one, nothing expires, nothing was paid.
_HOLDS = (
    """
    INSERT INTO credit_requests (request_id, customer_id, action, channel, requested_at,
                                 outcome)
    SELECT 'RQ-' || order_id, customer_id, 'transfer', 'online_form',
           :as_of - interval '31 days', 'held'
    FROM orders
    """,
    """
    INSERT INTO transfers (request_id, order_id, customer_id, order_amount_cents,
                           credit_cents, status, requested_at, due_by)
    SELECT 'RQ-' || order_id, 'NEW-' || order_id, customer_id, 2 * amount_cents,
           amount_cents, 'awaiting_topup', :as_of - interval '31 days',
           :as_of - interval '1 day'
    FROM orders
    """,
    """
    INSERT INTO allocations (request_id, credit_id, amount_cents)
    SELECT 'RQ-' || source_order_id, credit_id, granted_cents FROM credits
    """,
    "UPDATE credits SET held_cents = available_cents, available_cents = 0",
    """
    WITH held AS (
        INSERT INTO journal_entries (kind, customer_id, cause, order_id, credit_id,
                                     effective_at, recorded_at, memo)
        SELECT 'credit_held', customer_id, 'seed-hold-' || credit_id,
               'NEW-' || source_order_id, credit_id, :as_of - interval '31 days', now(),
               'credit held'
        FROM credits
        RETURNING entry_id, customer_id, credit_id
    )
    INSERT INTO postings (entry_id, account, customer_id, credit_id, amount_cents)
    SELECT held.entry_id, line.account, held.customer_id, held.credit_id,
           line.sign * credits.granted_cents
    FROM held JOIN credits USING (credit_id)
    CROSS JOIN (VALUES ('credit_available', 1), ('credit_held', -1)) AS line (account, sign)
    """,
)

_SEEDS: Final[dict[str, tuple[str, ...]]] = {
    "expiry": (_ORDERS, _PAID, _CREDITS, _GRANTED),
    "spid_timeout": (_ORDERS, _PAID),
    "holds": (_ORDERS, _PAID, _CREDITS, _GRANTED, *_HOLDS),
    "reminders": (_ORDERS, _PAID, _CREDITS, _GRANTED),
}

_PARAMETERS: Final[dict[str, dict[str, object]]] = {
    "expiry": {
        "service": "hosting",
        "status": "failed",
        "expires_at": datetime(2027, 1, 10, 8, 30, tzinfo=UTC),
    },
    "spid_timeout": {"service": "spid", "status": "awaiting_activation"},
    "holds": {
        "service": "hosting",
        "status": "failed",
        "expires_at": datetime(2027, 9, 1, 8, 30, tzinfo=UTC),
    },
    # Six days from AS_OF: the 7-day reminder is due for every credit.
    "reminders": {
        "service": "hosting",
        "status": "failed",
        "expires_at": datetime(2027, 3, 7, 8, 30, tzinfo=UTC),
    },
}


def seed(engine: Engine, kind: str, n: int) -> None:
    """Empty every table, then make ``n`` rows due for sweep ``kind`` at ``AS_OF``;
    statistics refreshed for the planner."""
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    parameters = {"n": n, "paid_at": _PAID_AT, "as_of": AS_OF} | _PARAMETERS[kind]
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        for statement in _SEEDS[kind]:
            connection.execute(text(statement), parameters)
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def _payload(kind: str, subject: str, time: str, data: str) -> str:
    """SQL building a notification's CloudEvent as the outbox keeps it."""
    return (
        f"json_build_object('specversion', '1.0', 'id', md5('{kind}|' || {subject}), "
        f"'source', 'residuo', 'type', '{kind}', 'time', {time}, "
        f"'datacontenttype', 'application/json', 'subject', customer_id, "
        f"'data', {data})::text"
    )


_OUTBOX_INSERT = "INSERT INTO outbox (notification_id, type, customer_id, payload, created_at)"

_EXPIRY = f"""
    WITH due AS (
        SELECT credit_id, customer_id, available_cents, expires_at FROM credits
        WHERE available_cents > 0 AND expires_at <= :as_of FOR UPDATE
    ), moved AS (
        UPDATE credits SET forfeited_cents = credits.forfeited_cents + due.available_cents,
                           available_cents = 0
        FROM due WHERE credits.credit_id = due.credit_id
    ), entries AS (
        INSERT INTO journal_entries (kind, customer_id, cause, credit_id, effective_at,
                                     recorded_at, memo)
        SELECT 'credit_forfeited', customer_id, credit_id || '|expiry', credit_id, expires_at,
               now(), 'unused credit ' || credit_id || ' forfeited at expiry'
        FROM due RETURNING entry_id, customer_id, credit_id
    ), lines AS (
        INSERT INTO postings (entry_id, account, customer_id, credit_id, amount_cents)
        SELECT entries.entry_id, line.account, entries.customer_id, entries.credit_id,
               line.sign * due.available_cents
        FROM entries JOIN due USING (credit_id)
        CROSS JOIN (VALUES ('credit_available', 1), ('breakage', -1)) AS line (account, sign)
    )
    {_OUTBOX_INSERT}
    SELECT md5('credit.expired|' || credit_id), 'credit.expired', customer_id,
           {
    _payload(
        "credit.expired",
        "credit_id",
        "expires_at",
        "json_build_object('customer_id', customer_id, 'credit_id', credit_id, "
        "'forfeited', (available_cents / 100.0)::text, 'expired_at', expires_at)",
    )
}, now()
    FROM due
"""

_SPID_TIMEOUT = f"""
    WITH due AS (
        SELECT order_id, customer_id, amount_cents, paid_at, activation_deadline FROM orders
        WHERE status = 'awaiting_activation' AND activation_deadline <= :as_of FOR UPDATE
    ), cancelled AS (
        UPDATE orders SET status = 'cancelled', cancelled_at = due.activation_deadline
        FROM due WHERE orders.order_id = due.order_id
    ), made AS (
        INSERT INTO credits (credit_id, customer_id, origin, source_order_id, refundable,
                             granted_at, expires_at, granted_cents, available_cents)
        SELECT 'CR-' || order_id, customer_id, 'spid_timeout', order_id, true,
               activation_deadline, paid_at + interval '12 months', amount_cents, amount_cents
        FROM due ON CONFLICT DO NOTHING
        RETURNING credit_id, customer_id, source_order_id, granted_cents, granted_at,
                  expires_at
    ), entries AS (
        INSERT INTO journal_entries (kind, customer_id, cause, order_id, credit_id,
                                     effective_at, recorded_at, memo)
        SELECT 'credit_granted', customer_id, 'spid_timeout|' || source_order_id,
               source_order_id, credit_id, granted_at, now(),
               'credit from order ' || source_order_id || ' (spid_timeout)'
        FROM made RETURNING entry_id, customer_id, credit_id
    ), lines AS (
        INSERT INTO postings (entry_id, account, customer_id, credit_id, amount_cents)
        SELECT entries.entry_id, line.account, entries.customer_id, entries.credit_id,
               line.sign * made.granted_cents
        FROM entries JOIN made USING (credit_id)
        CROSS JOIN (VALUES ('order_prepayments', 1), ('credit_available', -1))
            AS line (account, sign)
    ), told AS (
        {_OUTBOX_INSERT}
        SELECT md5('spid.order_cancelled|' || order_id), 'spid.order_cancelled', customer_id,
               {
    _payload(
        "spid.order_cancelled",
        "order_id",
        "activation_deadline",
        "json_build_object('customer_id', customer_id, 'order_id', order_id, "
        "'paid_at', paid_at, 'cancelled_at', activation_deadline, "
        "'credit_id', 'CR-' || order_id, 'amount', (amount_cents / 100.0)::text, "
        "'expires_at', paid_at + interval '12 months')",
    )
}, now()
        FROM due
    )
    {_OUTBOX_INSERT}
    SELECT md5('credit.granted|' || credit_id), 'credit.granted', customer_id,
           {
    _payload(
        "credit.granted",
        "credit_id",
        "granted_at",
        "json_build_object('customer_id', customer_id, 'credit_id', credit_id, "
        "'origin', 'spid_timeout', 'source_order_id', source_order_id, "
        "'amount', (granted_cents / 100.0)::text, 'expires_at', expires_at, "
        "'refundable', true)",
    )
}, now()
    FROM made
"""

_HOLDS_RELEASE = f"""
    WITH due AS (
        SELECT request_id, order_id, customer_id, due_by FROM transfers
        WHERE status = 'awaiting_topup' AND due_by <= :as_of FOR UPDATE
    ), portions AS (
        SELECT allocations.request_id, allocations.credit_id, allocations.amount_cents,
               due.customer_id, due.order_id, due.due_by,
               nextval(pg_get_serial_sequence('journal_entries', 'entry_id')) AS entry_id
        FROM allocations JOIN due USING (request_id)
    ), moved AS (
        UPDATE credits SET held_cents = credits.held_cents - taken.cents,
                           available_cents = credits.available_cents + taken.cents
        FROM (SELECT credit_id, sum(amount_cents) AS cents FROM portions GROUP BY credit_id)
            AS taken
        WHERE credits.credit_id = taken.credit_id
    ), settled AS (
        UPDATE transfers SET status = 'released', settled_at = due.due_by
        FROM due WHERE transfers.request_id = due.request_id
    ), entries AS (
        INSERT INTO journal_entries (entry_id, kind, customer_id, cause, order_id, credit_id,
                                     effective_at, recorded_at, memo)
        SELECT entry_id, 'hold_released', customer_id, 'holds|' || request_id, order_id,
               credit_id, due_by, now(), 'hold for order ' || order_id || ' lapsed unpaid'
        FROM portions
    ), lines AS (
        INSERT INTO postings (entry_id, account, customer_id, credit_id, amount_cents)
        SELECT portions.entry_id, line.account, portions.customer_id, portions.credit_id,
               line.sign * portions.amount_cents
        FROM portions
        CROSS JOIN (VALUES ('credit_held', 1), ('credit_available', -1)) AS line (account, sign)
    ), released AS (
        SELECT request_id, sum(amount_cents) AS cents FROM portions GROUP BY request_id
    )
    {_OUTBOX_INSERT}
    SELECT md5('hold.released|' || request_id), 'hold.released', customer_id,
           {
    _payload(
        "hold.released",
        "request_id",
        "due_by",
        "json_build_object('customer_id', customer_id, 'order_id', order_id, "
        "'released', (released.cents / 100.0)::text, 'forfeited', '0.00')",
    )
}, now()
    FROM due JOIN released USING (request_id)
"""

_REMINDERS = f"""
    WITH due AS (
        SELECT credit_id, customer_id, available_cents, expires_at FROM credits
        WHERE available_cents > 0 AND granted_at <= :as_of AND expires_at > :as_of
          AND expires_at <= :as_of + interval '9 days'
    ), claimed AS (
        INSERT INTO reminders (subject_id, kind, deadline, days_before, sent_at)
        SELECT credit_id, 'credit_expiry', expires_at, 7, :as_of FROM due
        ON CONFLICT DO NOTHING RETURNING subject_id
    )
    {_OUTBOX_INSERT}
    SELECT md5('credit.expiring_soon|' || credit_id), 'credit.expiring_soon', customer_id,
           {
    _payload(
        "credit.expiring_soon",
        "credit_id",
        ":as_of",
        "json_build_object('customer_id', customer_id, 'credit_id', credit_id, "
        "'remaining', (available_cents / 100.0)::text, 'expires_at', expires_at, "
        "'days_left', 6)",
    )
}, now()
    FROM due JOIN claimed ON claimed.subject_id = due.credit_id
"""

BASELINES: Final[dict[str, str]] = {
    "expiry": _EXPIRY,
    "spid_timeout": _SPID_TIMEOUT,
    "holds": _HOLDS_RELEASE,
    "reminders": _REMINDERS,
}
