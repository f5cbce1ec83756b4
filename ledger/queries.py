"""Read models: a customer's credits and statement, straight from the store."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from ledger.store import schema

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
    """One journal entry of a customer, with its postings."""

    entry_id: int
    kind: str
    effective_at: datetime
    memo: str
    order_id: str | None
    credit_id: str | None
    postings: list[tuple[str, str | None, int]]


def _status(row: Any, as_of: datetime) -> str:
    """Where a credit stands: held, usable, expired, or spent (used/refunded)."""
    if row.held_cents:
        return "held"
    if row.available_cents and as_of < row.expires_at:
        return "available"
    if row.forfeited_cents or (row.available_cents and as_of >= row.expires_at):
        return "expired"
    if row.refunded_cents and not row.used_cents:
        return "refunded"
    return "used"


def balance(engine: Engine, customer_id: str, as_of: datetime) -> Balance:
    """R2 at read time too: a remainder past ``expires_at`` is not available."""
    column = schema.credits.c
    with engine.connect() as connection:
        rows = connection.execute(
            select(schema.credits)
            .where(column.customer_id == customer_id)
            .order_by(column.expires_at, column.granted_at, column.credit_id)
        ).all()
    lines = [
        CreditLine(
            credit_id=row.credit_id,
            origin=row.origin,
            source_order_id=row.source_order_id,
            granted=row.granted_cents,
            remaining=row.available_cents,
            held=row.held_cents,
            used=row.used_cents,
            refunded=row.refunded_cents,
            forfeited=row.forfeited_cents,
            expires_at=row.expires_at,
            refundable=row.refundable,
            status=_status(row, as_of),
        )
        for row in rows
    ]
    available = sum(line.remaining for line in lines if as_of < line.expires_at)
    return Balance(customer_id=customer_id, as_of=as_of, available=available, credits=lines)


def statement(engine: Engine, customer_id: str) -> list[StatementLine]:
    """Every journal entry of ``customer_id``, oldest first (business time, then id)."""
    entry, posting = schema.journal_entries.c, schema.postings.c
    with engine.connect() as connection:
        entries = connection.execute(
            select(schema.journal_entries)
            .where(entry.customer_id == customer_id)
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
            memo=row.memo,
            order_id=row.order_id,
            credit_id=row.credit_id,
            postings=by_entry.get(row.entry_id, []),
        )
        for row in entries
    ]
