"""Read models: a customer's credits and statement, straight from the store."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from ledger.books import Account
from ledger.recorded_time import recorded_by
from ledger.store import schema
from ledger.store.sums import joined_cents, summed_cents

__all__ = ["Balance", "CreditLine", "StatementLine", "balance", "statement"]


@dataclass(frozen=True, slots=True)
class CreditLine:
    """One credit as ``residuo balance`` shows it (cents)."""

    credit_id: str
    origin: str
    source_order_id: str
    granted: int
    remaining: int
    held: int
    used: int
    refunded: int
    forfeited: int
    expires_at: datetime
    refundable: bool
    status: str


@dataclass(frozen=True, slots=True)
class Balance:
    """A customer's credit at ``as_of``: ``available`` counts only unexpired remainders."""

    customer_id: str
    as_of: datetime
    available: int
    credits: list[CreditLine]


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One journal entry of a customer, with its postings: ``effective_at`` when it
    happened (business time), ``recorded_at`` when the books learnt it; a correction's
    entries name it (``correction_id``), a reversal the entry it cancels."""

    entry_id: int
    kind: str
    effective_at: datetime
    recorded_at: datetime
    memo: str
    order_id: str | None
    credit_id: str | None
    postings: list[tuple[str, str | None, int]]
    reverses_entry_id: int | None = None
    correction_id: int | None = None


def _status(buckets: dict[str, int], expires_at: datetime, as_of: datetime) -> str:
    """Where a credit stands: ``held`` or ``available`` while something remains for the
    customer; otherwise what became of it, each part named once: ``used``,
    ``refunded``, ``expired``, or a mix such as ``used+refunded``."""
    if buckets["held"]:
        return "held"
    usable = as_of < expires_at
    if buckets["available"] and usable:
        return "available"
    parts = [
        name
        for name, happened in (
            ("used", buckets["used"]),
            ("refunded", buckets["refunded"]),
            ("expired", buckets["forfeited"] or (buckets["available"] and not usable)),
        )
        if happened
    ]
    return "+".join(parts)


_BUCKET_OF_ACCOUNT = {
    Account.CREDIT_AVAILABLE.value: "available",
    Account.CREDIT_HELD.value: "held",
    Account.CREDIT_APPLIED.value: "used",
    Account.REFUNDS_PAYABLE.value: "refunded",
    Account.BREAKAGE.value: "forfeited",
}
"""Where a credit's money sits, by the account its postings name (see ``books``): each of
these accounts is credit-normal, so a bucket is minus the sum of its postings."""
_BUCKETS = tuple(_BUCKET_OF_ACCOUNT.values())


def balance(
    engine: Engine, customer_id: str, as_of: datetime, *, known_at: datetime | None = None
) -> Balance:
    """The customer's credits as the journal stood at ``as_of`` (business time).

    Buckets are summed from the postings effective by ``as_of``, so an earlier instant
    shows the books before later grants, transfers, refunds and forfeitures; the
    ``credits`` buckets are what the same sum gives today (R11, checked by the tests).
    With ``known_at`` (a recorded time), only the entries written by then count: what
    the books said before later corrections (``ledger.corrections``), of the credits
    that still exist and had entries by then. R2 at read time too: a remainder past
    ``expires_at`` is not available, even before the expiry sweep has forfeited it."""
    credit, entry, posting = schema.credits.c, schema.journal_entries.c, schema.postings.c
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                credit.credit_id,
                credit.origin,
                credit.source_order_id,
                credit.expires_at,
                credit.refundable,
            )
            .where(credit.customer_id == customer_id, credit.granted_at <= as_of)
            .order_by(credit.expires_at, credit.granted_at, credit.credit_id)
        ).all()
        sums = connection.execute(
            select(posting.credit_id, posting.account, *summed_cents(posting.amount_cents))
            .join(schema.journal_entries, entry.entry_id == posting.entry_id)
            .where(
                posting.customer_id == customer_id,
                posting.credit_id.is_not(None),
                posting.account.in_(list(_BUCKET_OF_ACCOUNT)),
                entry.effective_at <= as_of,
                recorded_by(known_at),
            )
            .group_by(posting.credit_id, posting.account)
        ).all()
    buckets: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_BUCKETS, 0))
    for credit_id, account, high, low in sums:
        buckets[credit_id][_BUCKET_OF_ACCOUNT[account]] = -joined_cents(high, low)
    # Known at a recorded time, a credit nothing had been booked for did not exist yet
    # (a correction granted it later).
    lines = [
        _credit_line(row, buckets[row.credit_id], as_of)
        for row in rows
        if known_at is None or row.credit_id in buckets
    ]
    available = sum(line.remaining for line in lines if as_of < line.expires_at)
    return Balance(customer_id=customer_id, as_of=as_of, available=available, credits=lines)


def _credit_line(row: Any, buckets: dict[str, int], as_of: datetime) -> CreditLine:
    return CreditLine(
        credit_id=row.credit_id,
        origin=row.origin,
        source_order_id=row.source_order_id,
        granted=sum(buckets.values()),
        remaining=buckets["available"],
        held=buckets["held"],
        used=buckets["used"],
        refunded=buckets["refunded"],
        forfeited=buckets["forfeited"],
        expires_at=row.expires_at,
        refundable=row.refundable,
        status=_status(buckets, row.expires_at, as_of),
    )


def statement(
    engine: Engine, customer_id: str, *, known_at: datetime | None = None
) -> list[StatementLine]:
    """Every journal entry of ``customer_id``, oldest first (business time, then id);
    with ``known_at``, only those recorded by then."""
    entry, posting = schema.journal_entries.c, schema.postings.c
    with engine.connect() as connection:
        entries = connection.execute(
            select(schema.journal_entries)
            .where(
                entry.customer_id == customer_id,
                recorded_by(known_at),
            )
            .order_by(entry.effective_at, entry.entry_id)
        ).all()
        lines = connection.execute(
            select(posting.entry_id, posting.account, posting.credit_id, posting.amount_cents)
            .where(posting.customer_id == customer_id)
            .order_by(posting.posting_id)
        ).all()
    by_entry: dict[int, list[tuple[str, str | None, int]]] = {}
    for line in lines:
        by_entry.setdefault(line.entry_id, []).append(
            (line.account, line.credit_id, line.amount_cents)
        )
    return [
        StatementLine(
            entry_id=row.entry_id,
            kind=row.kind,
            effective_at=row.effective_at,
            recorded_at=row.recorded_at,
            memo=row.memo,
            order_id=row.order_id,
            credit_id=row.credit_id,
            postings=by_entry.get(row.entry_id, []),
            reverses_entry_id=row.reverses_entry_id,
            correction_id=row.correction_id,
        )
        for row in entries
    ]
