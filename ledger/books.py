"""The double-entry journal: accounts, balanced entries, append-only.

Signs: a posting is positive for a debit, negative for a credit; the postings of an
entry sum to zero. Liability and income accounts therefore carry negative balances:
``available`` credit of a customer is ``-balance(CREDIT_AVAILABLE)``.

How money moves (SPEC R1–R9):

================================  ======================  ======================
movement                          debit                   credit
================================  ======================  ======================
order paid                        cash                    order_prepayments
order activated                   order_prepayments       revenue
activation failed / SPID timeout  order_prepayments       credit_available
credit applied to a new order     credit_available        credit_applied
credit held for a new order       credit_available        credit_held
hold committed (order funded)     credit_held             credit_applied
hold released                     credit_held             credit_available
forfeited at expiry               credit_available        breakage
refund requested                  credit_available        refunds_payable
top-up paid for a new order       cash                    topups_received
top-up that matched nothing       cash                    unmatched_payments
forfeited credit reinstated       breakage                credit_available
credit voided by an operator      credit_available        breakage
goodwill credit granted           goodwill                credit_available
================================  ======================  ======================
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import bindparam, text

from ledger.errors import UnbalancedEntryError
from ledger.store import schema
from ledger.store.uow import UnitOfWork

__all__ = ["Account", "Entry", "Line", "post_entries", "post_entry", "transfer"]

_INSERT_ENTRY: Final = schema.journal_entries.insert()

_ENTRY_COLUMNS: Final = (
    "kind",
    "customer_id",
    "cause",
    "order_id",
    "credit_id",
    "effective_at",
    "recorded_at",
    "memo",
)
# PostgreSQL: an entry and its postings in one round trip, the postings taking the
# entry's id from the data-modifying CTE that inserts it (the foreign key is checked
# at the end of the statement, when both are there). Nearly every event posts one.
_POST_ENTRY_AT_ONCE: Final = text(
    f"WITH entry AS (INSERT INTO journal_entries ({', '.join(_ENTRY_COLUMNS)})"
    f" VALUES ({', '.join(':' + name for name in _ENTRY_COLUMNS)}) RETURNING entry_id),"
    " posted AS (INSERT INTO postings (entry_id, account, customer_id, credit_id, amount_cents)"
    " SELECT entry.entry_id, line.account, :customer_id, line.credit_id, line.amount_cents"
    " FROM entry, unnest(CAST(:accounts AS text[]), CAST(:credit_ids AS text[]),"
    " CAST(:amounts AS bigint[])) WITH ORDINALITY AS line(account, credit_id, amount_cents, n)"
    " ORDER BY line.n)"
    " SELECT entry_id FROM entry"
).bindparams(
    *(bindparam(name, type_=schema.journal_entries.c[name].type) for name in _ENTRY_COLUMNS)
)


class Account(StrEnum):
    """The chart of accounts; every posting names one, per customer."""

    CASH = "cash"
    ORDER_PREPAYMENTS = "order_prepayments"
    REVENUE = "revenue"
    CREDIT_AVAILABLE = "credit_available"
    CREDIT_HELD = "credit_held"
    CREDIT_APPLIED = "credit_applied"
    BREAKAGE = "breakage"
    REFUNDS_PAYABLE = "refunds_payable"
    TOPUPS_RECEIVED = "topups_received"
    UNMATCHED_PAYMENTS = "unmatched_payments"
    GOODWILL = "goodwill"


@dataclass(frozen=True, slots=True)
class Line:
    """One posting of an entry: debit positive, credit negative."""

    account: Account
    amount_cents: int
    credit_id: str | None = None


def transfer(
    debit: Account, credit: Account, cents: int, credit_id: str | None = None
) -> list[Line]:
    """The two lines that move ``cents`` from ``credit`` to ``debit``."""
    return [Line(debit, cents, credit_id), Line(credit, -cents, credit_id)]


def post_entry(
    uow: UnitOfWork,
    *,
    kind: str,
    customer_id: str,
    cause: str,
    effective_at: datetime,
    recorded_at: datetime,
    memo: str,
    lines: Sequence[Line],
    order_id: str | None = None,
    credit_id: str | None = None,
) -> int:
    """Append one balanced entry and its postings; return its id."""
    _require_balanced(kind, customer_id, lines)
    entry = {
        "kind": kind,
        "customer_id": customer_id,
        "cause": cause,
        "order_id": order_id,
        "credit_id": credit_id,
        "effective_at": effective_at,
        "recorded_at": recorded_at,
        "memo": memo,
    }
    if uow.dialect == "postgresql":
        return int(
            uow.connection.execute(
                _POST_ENTRY_AT_ONCE,
                entry
                | {
                    "accounts": [line.account.value for line in lines],
                    "credit_ids": [line.credit_id for line in lines],
                    "amounts": [line.amount_cents for line in lines],
                },
            ).scalar_one()
        )
    result = uow.connection.execute(_INSERT_ENTRY, entry)
    assert result.inserted_primary_key is not None
    entry_id = int(result.inserted_primary_key[0])
    uow.insert_many(
        schema.postings,
        [
            {
                "entry_id": entry_id,
                "account": line.account.value,
                "customer_id": customer_id,
                "credit_id": line.credit_id,
                "amount_cents": line.amount_cents,
            }
            for line in lines
        ],
    )
    return entry_id


@dataclass(frozen=True, slots=True)
class Entry:
    """One balanced movement, for ``post_entries``; a correction's entries name it, and
    a reversal the entry it cancels (``ledger.corrections``)."""

    kind: str
    customer_id: str
    cause: str
    effective_at: datetime
    memo: str
    lines: Sequence[Line]
    order_id: str | None = None
    credit_id: str | None = None
    reverses_entry_id: int | None = None
    correction_id: int | None = None


def post_entries(uow: UnitOfWork, entries: Sequence[Entry], *, recorded_at: datetime) -> None:
    """Append many balanced entries in three statements, whatever their number.

    What a sweep chunk posts: the entries and postings ``post_entry`` would write one
    by one, with the same checks; their ids are drawn first, so that the entries and
    their postings are two batched inserts instead of two per entry.
    """
    for entry in entries:
        _require_balanced(entry.kind, entry.customer_id, entry.lines)
    if not entries:
        return
    entry_ids = uow.next_ids(schema.journal_entries.c.entry_id, len(entries))
    uow.insert_many(
        schema.journal_entries,
        [
            {
                "entry_id": entry_id,
                "kind": entry.kind,
                "customer_id": entry.customer_id,
                "cause": entry.cause,
                "order_id": entry.order_id,
                "credit_id": entry.credit_id,
                "effective_at": entry.effective_at,
                "recorded_at": recorded_at,
                "memo": entry.memo,
                "reverses_entry_id": entry.reverses_entry_id,
                "correction_id": entry.correction_id,
            }
            for entry_id, entry in zip(entry_ids, entries, strict=True)
        ],
    )
    uow.insert_many(
        schema.postings,
        [
            {
                "entry_id": entry_id,
                "account": line.account.value,
                "customer_id": entry.customer_id,
                "credit_id": line.credit_id,
                "amount_cents": line.amount_cents,
            }
            for entry_id, entry in zip(entry_ids, entries, strict=True)
            for line in entry.lines
        ],
    )


def _require_balanced(kind: str, customer_id: str, lines: Sequence[Line]) -> None:
    if not lines or sum(line.amount_cents for line in lines) != 0:
        raise UnbalancedEntryError(f"{kind} for {customer_id}: lines {lines} do not balance")
    if any(line.amount_cents == 0 for line in lines):
        raise UnbalancedEntryError(f"{kind} for {customer_id}: a zero posting says nothing")
