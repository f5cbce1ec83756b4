"""Credits in the store: grant, load under lock, and move money between buckets.

Every bucket move here is paired with its journal entry by the caller's rule
module; the check constraints on ``credits`` refuse any move that would make a
bucket negative or break ``granted = available + held + used + refunded + forfeited``.
"""

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Update, bindparam, select, update

from ledger.books import Account, Entry, transfer
from ledger.context import Context, Notice
from ledger.money import cents_to_decimal
from ledger.policy import Origin
from ledger.rules import CreditState
from ledger.store import schema
from messages.limits import CREDIT_ID_PREFIX
from messages.notifications import CreditExpired, CreditGranted

__all__ = [
    "credit_id_for_order",
    "forfeit",
    "forfeiture",
    "grant_credit",
    "load_credits",
    "move_buckets",
    "to_credit_state",
]

_BUCKETS = ("available", "held", "used", "refunded", "forfeited")


def credit_id_for_order(source_order_id: str) -> str:
    """The id of the credit an order produces: one order, one credit (R1)."""
    return f"{CREDIT_ID_PREFIX}{source_order_id}"


def to_credit_state(row: Row[Any]) -> CreditState:
    """The rules' view of a ``credits`` row."""
    # By the row's mapping, not its attributes: an attribute is looked up by a Python
    # ``__getattr__`` (about 0.5 µs a field), the mapping in C, and a sweep reads a
    # thousand credits a window.
    field = row._mapping
    return CreditState(
        credit_id=field["credit_id"],
        customer_id=field["customer_id"],
        origin=field["origin"],
        source_order_id=field["source_order_id"],
        granted_at=field["granted_at"],
        expires_at=field["expires_at"],
        available=field["available_cents"],
        held=field["held_cents"],
        forfeited=field["forfeited_cents"],
        refundable=field["refundable"],
    )


def load_credits(
    ctx: Context, *, customer_id: str | None = None, credit_ids: Iterable[str] | None = None
) -> list[CreditState]:
    """Credits of a customer (or by id), locked for update, in a stable lock order."""
    query = select(schema.credits).order_by(schema.credits.c.credit_id)
    if customer_id is not None:
        query = query.where(schema.credits.c.customer_id == customer_id)
    if credit_ids is not None:
        # One parameter however many ids: a sweep's window names a thousand.
        query = query.where(ctx.uow.among(schema.credits.c.credit_id, credit_ids))
    rows = ctx.uow.connection.execute(query.with_for_update()).all()
    return [to_credit_state(row) for row in rows]


def move_buckets(ctx: Context, credit_id: str, **deltas: int) -> None:
    """Add ``deltas`` (e.g. ``available=-500, used=500``) to one credit's buckets."""
    if sum(deltas.values()) != 0 or not set(deltas) <= set(_BUCKETS):
        raise ValueError(f"bucket move {deltas} must only shift money between buckets")
    ctx.uow.connection.execute(
        _moving(tuple(deltas)),
        {"moved_credit_id": credit_id} | {f"delta_{name}": delta for name, delta in deltas.items()},
    )


@functools.cache
def _moving(buckets: tuple[str, ...]) -> Update:
    """``move_buckets``' statement for one set of buckets, built once: a handful of
    shapes, used by every transfer, hold and expiry."""
    column = schema.credits.c
    return (
        update(schema.credits)
        .where(column.credit_id == bindparam("moved_credit_id"))
        .values(
            {
                f"{name}_cents": column[f"{name}_cents"]
                + bindparam(f"delta_{name}", type_=column[f"{name}_cents"].type)
                for name in buckets
            }
        )
    )


def grant_credit(
    ctx: Context,
    *,
    customer_id: str,
    origin: Origin,
    source_order_id: str,
    amount_cents: int,
    granted_at: datetime,
    expires_at: datetime,
    cause: str,
    funded_by: Account = Account.ORDER_PREPAYMENTS,
    memo: str | None = None,
) -> str | None:
    """R1/R5: turn an order's payment into credit, once; None if it already was. A
    goodwill credit (``ledger.adjustments``) is funded by the provider instead
    (``funded_by``), its source an adjustment rather than an order."""
    credit_id = credit_id_for_order(source_order_id)
    refundable = ctx.policy.is_refundable(origin)
    inserted = ctx.uow.insert_ignoring_conflicts(
        schema.credits,
        {
            "credit_id": credit_id,
            "customer_id": customer_id,
            "origin": origin,
            "source_order_id": source_order_id,
            "refundable": refundable,
            "granted_at": granted_at,
            "expires_at": expires_at,
            "granted_cents": amount_cents,
            "available_cents": amount_cents,
        },
    )
    if not inserted:
        return None
    ctx.post(
        kind="credit_granted",
        customer_id=customer_id,
        cause=cause,
        effective_at=granted_at,
        memo=memo or f"credit from order {source_order_id} ({origin})",
        lines=transfer(funded_by, Account.CREDIT_AVAILABLE, amount_cents, credit_id),
        order_id=source_order_id if funded_by is Account.ORDER_PREPAYMENTS else None,
        credit_id=credit_id,
    )
    ctx.notify(
        CreditGranted(
            customer_id=customer_id,
            credit_id=credit_id,
            origin=origin,
            source_order_id=source_order_id,
            amount=cents_to_decimal(amount_cents),
            expires_at=ctx.local(expires_at),
            refundable=refundable,
        ),
        cause=credit_id,
        time=granted_at,
    )
    return credit_id


def forfeit(ctx: Context, credit: CreditState, *, at: datetime, cause: str) -> int:
    """R4: book a credit's whole available remainder to breakage at ``at``; cents forfeited."""
    amount = credit.available
    if amount == 0:
        return 0
    entry, notice = forfeiture(ctx, credit, at=at, cause=cause)
    move_buckets(ctx, credit.credit_id, available=-amount, forfeited=amount)
    ctx.post_entries([entry])
    ctx.notify_all([notice])
    return amount


def forfeiture(
    ctx: Context, credit: CreditState, *, at: datetime, cause: str
) -> tuple[Entry, Notice]:
    """R4: the journal entry and the ``credit.expired`` of forfeiting ``credit``'s whole
    available remainder at ``at``: written by ``forfeit`` one credit at a time, and by
    the expiry sweep a chunk at a time."""
    amount = credit.available
    entry = Entry(
        kind="credit_forfeited",
        customer_id=credit.customer_id,
        cause=cause,
        effective_at=at,
        memo=f"unused credit {credit.credit_id} forfeited at expiry",
        lines=transfer(Account.CREDIT_AVAILABLE, Account.BREAKAGE, amount, credit.credit_id),
        credit_id=credit.credit_id,
    )
    expired = CreditExpired(
        customer_id=credit.customer_id,
        credit_id=credit.credit_id,
        forfeited=cents_to_decimal(amount),
        expired_at=ctx.local(credit.expires_at),
    )
    return entry, Notice(expired, cause=cause, time=at)
