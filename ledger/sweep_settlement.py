"""SPID timeouts (R5) and lapsed holds (R6) settled a window at a time, set-based.

A sweep window of due rows is settled in a handful of statements whatever its size,
and writes exactly what settling its rows one by one through ``cancel_spid_order``
and ``release_hold`` (the functions events use) would write: the same row changes,
the same journal entries in the same order, the same notifications with the same ids
in the same outbox order. The decisions are taken in Python over the window's rows,
read once and locked; the writes are then batched:

* SPID timeouts: one update cancels the orders, one insert makes their credits (a
  credit that already exists is left out, as ``grant_credit`` leaves it), three
  statements post the grants, one queues the notifications;
* lapsed holds: two reads (the allocations, the top-ups paid towards the orders),
  one locking read of the credits, then one statement each for the credits' buckets,
  the top-ups, the transfers, the journal (three) and the outbox.

A credit may appear in several holds of one window (a hold takes a credit's whole
available remainder, which money given back later can refill): the holds are
replayed in key order over the credits' state in memory, as the row-by-row path
would meet them.
"""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import Row, select, update

from ledger.books import Account, Entry, Line, transfer
from ledger.context import Context, Notice
from ledger.credit_book import credit_id_for_order, forfeiture, load_credits
from ledger.lifecycle import OrderState
from ledger.money import cents_to_decimal
from ledger.policy import Origin
from ledger.rules import spid_credit_expiry
from ledger.store import schema
from messages.notifications import (
    CreditGranted,
    HoldReleased,
    PaymentUnmatched,
    SpidOrderCancelled,
)

__all__ = ["ReleasedHold", "cancel_overdue_spid_orders", "release_lapsed_holds"]

_SPID_ORIGIN: Final[Origin] = "spid_timeout"


def cancel_overdue_spid_orders(ctx: Context, orders: Sequence[Row[Any]]) -> list[Row[Any]]:
    """R5 for a window of ``orders`` rows (locked, in key order): each cancelled at its
    deadline and its payment made credit, as ``cancel_spid_order`` with cause
    ``spid_timeout|<order>`` does; the orders whose credit this made (not those whose
    credit already existed)."""
    if not orders:
        return []
    column = schema.orders.c
    ctx.uow.connection.execute(
        update(schema.orders)
        .where(ctx.uow.among(column.order_id, [order.order_id for order in orders]))
        .values(status=OrderState.CANCELLED.value, cancelled_at=column.activation_deadline)
    )
    refundable = ctx.policy.is_refundable(_SPID_ORIGIN)
    expiries = {
        order.order_id: spid_credit_expiry(order.paid_at, order.activation_deadline, ctx.policy)
        for order in orders
    }
    made = {
        row.credit_id
        for row in ctx.uow.insert_many(
            schema.credits,
            [
                {
                    "credit_id": credit_id_for_order(order.order_id),
                    "customer_id": order.customer_id,
                    "origin": _SPID_ORIGIN,
                    "source_order_id": order.order_id,
                    "refundable": refundable,
                    "granted_at": order.activation_deadline,
                    "expires_at": expiries[order.order_id],
                    "granted_cents": order.amount_cents,
                    "available_cents": order.amount_cents,
                }
                for order in orders
            ],
            ignore_conflicts=True,
            returning=(schema.credits.c.credit_id,),
        )
    }
    entries: list[Entry] = []
    notices: list[Notice] = []
    granted: list[Row[Any]] = []
    for order in orders:
        credit_id = credit_id_for_order(order.order_id)
        cancelled_at = order.activation_deadline
        expires_at = expiries[order.order_id]
        # The cancellation is told first, then the credit it makes (cancel_spid_order).
        notices.append(
            Notice(
                SpidOrderCancelled(
                    customer_id=order.customer_id,
                    order_id=order.order_id,
                    paid_at=ctx.local(order.paid_at),
                    cancelled_at=ctx.local(cancelled_at),
                    credit_id=credit_id,
                    amount=cents_to_decimal(order.amount_cents),
                    expires_at=ctx.local(expires_at),
                ),
                cause=order.order_id,
                time=cancelled_at,
            )
        )
        if credit_id not in made:
            continue
        granted.append(order)
        entries.append(
            Entry(
                kind="credit_granted",
                customer_id=order.customer_id,
                cause=f"spid_timeout|{order.order_id}",
                effective_at=cancelled_at,
                memo=f"credit from order {order.order_id} ({_SPID_ORIGIN})",
                lines=transfer(
                    Account.ORDER_PREPAYMENTS,
                    Account.CREDIT_AVAILABLE,
                    order.amount_cents,
                    credit_id,
                ),
                order_id=order.order_id,
                credit_id=credit_id,
            )
        )
        notices.append(
            Notice(
                CreditGranted(
                    customer_id=order.customer_id,
                    credit_id=credit_id,
                    origin=_SPID_ORIGIN,
                    source_order_id=order.order_id,
                    amount=cents_to_decimal(order.amount_cents),
                    expires_at=ctx.local(expires_at),
                    refundable=refundable,
                ),
                cause=credit_id,
                time=cancelled_at,
            )
        )
    ctx.post_entries(entries)
    ctx.notify_all(notices)
    return granted


@dataclass(frozen=True, slots=True)
class ReleasedHold:
    """What releasing one hold did, in cents: ``release_hold``'s return value."""

    request_id: str
    released: int
    forfeited: int


def release_lapsed_holds(ctx: Context, holds: Sequence[Row[Any]]) -> list[ReleasedHold]:
    """R6 for a window of ``transfers`` rows awaiting a top-up (locked, in key order):
    each released at its ``due_by`` as ``release_hold`` with cause ``holds|<request>``
    does; what each released and forfeited, in the same order."""
    if not holds:
        return []
    connection = ctx.uow.connection
    allocation = schema.allocations.c
    portions: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in connection.execute(
        select(allocation.request_id, allocation.credit_id, allocation.amount_cents)
        .where(ctx.uow.among(allocation.request_id, [held.request_id for held in holds]))
        .order_by(allocation.request_id, allocation.credit_id)
    ):
        portions[row.request_id].append((row.credit_id, row.amount_cents))
    credit_ids = sorted({credit_id for each in portions.values() for credit_id, _ in each})
    credits = {credit.credit_id: credit for credit in load_credits(ctx, credit_ids=credit_ids)}
    topups = _paid_topups(ctx, holds)

    entries: list[Entry] = []
    notices: list[Notice] = []
    moved: dict[str, Counter[str]] = defaultdict(Counter)
    returned: list[str] = []
    results: list[ReleasedHold] = []
    for held in holds:
        at = held.due_by
        cause = f"holds|{held.request_id}"
        taken = portions.get(held.request_id, [])
        for credit_id, cents in taken:
            credit = credits[credit_id]
            credits[credit_id] = replace(
                credit, available=credit.available + cents, held=credit.held - cents
            )
            moved[credit_id].update({"available": cents, "held": -cents})
            entries.append(
                Entry(
                    kind="hold_released",
                    customer_id=held.customer_id,
                    cause=cause,
                    effective_at=at,
                    memo=f"hold for order {held.order_id} lapsed unpaid",
                    lines=transfer(Account.CREDIT_HELD, Account.CREDIT_AVAILABLE, cents, credit_id),
                    order_id=held.order_id,
                    credit_id=credit_id,
                )
            )
        forfeited = 0
        for credit_id, _ in taken:
            credit = credits[credit_id]
            if credit.is_usable(at) or credit.available == 0:
                continue
            entry, notice = forfeiture(
                ctx, credit, at=at, cause=f"{credit_id}|hold_released|{held.request_id}"
            )
            entries.append(entry)
            notices.append(notice)
            forfeited += credit.available
            moved[credit_id].update({"available": -credit.available, "forfeited": credit.available})
            credits[credit_id] = credit.with_remainder_forfeited()
        for topup in topups.pop(held.order_id, []):
            entry, notice = _returned_topup(ctx, held, topup)
            entries.append(entry)
            notices.append(notice)
            returned.append(topup.event_id)
        released = sum(cents for _, cents in taken)
        notices.append(
            Notice(
                HoldReleased(
                    customer_id=held.customer_id,
                    order_id=held.order_id,
                    released=cents_to_decimal(released),
                    forfeited=cents_to_decimal(forfeited),
                ),
                cause=held.request_id,
                time=at,
            )
        )
        results.append(ReleasedHold(held.request_id, released, forfeited))

    _move_buckets(ctx, moved)
    if returned:
        connection.execute(
            update(schema.topups)
            .where(ctx.uow.among(schema.topups.c.event_id, returned))
            .values(applied_cents=0)
        )
    transfers = schema.transfers.c
    connection.execute(
        update(schema.transfers)
        .where(ctx.uow.among(transfers.request_id, [held.request_id for held in holds]))
        .values(status="released", settled_at=transfers.due_by)
    )
    ctx.post_entries(entries)
    ctx.notify_all(notices)
    return results


def _paid_topups(ctx: Context, holds: Sequence[Row[Any]]) -> dict[str, list[Row[Any]]]:
    """Top-ups with money applied towards the holds' orders, by order id, each list
    oldest first (``return_paid_topups``'s order)."""
    column = schema.topups.c
    found: dict[str, list[Row[Any]]] = defaultdict(list)
    query = (
        select(schema.topups)
        .where(
            ctx.uow.among(column.order_id, sorted({held.order_id for held in holds})),
            column.applied_cents > 0,
        )
        .order_by(column.paid_at, column.event_id)
    )
    for topup in ctx.uow.connection.execute(query):
        found[topup.order_id].append(topup)
    return found


def _returned_topup(ctx: Context, held: Row[Any], topup: Row[Any]) -> tuple[Entry, Notice]:
    """A top-up that paid towards the lapsed hold ``held``, back to unmatched payments:
    the entry and the ``payment.unmatched`` of ``return_paid_topups``."""
    cause = f"{topup.event_id}|released|{held.request_id}"
    why = (
        f"it paid part of the difference on order {held.order_id}, whose hold was released unfunded"
    )
    entry = Entry(
        kind="topup_unmatched",
        customer_id=topup.customer_id,
        cause=cause,
        effective_at=held.due_by,
        memo=f"top-up for order {held.order_id} back to unmatched payments",
        lines=[
            Line(Account.TOPUPS_RECEIVED, topup.applied_cents),
            Line(Account.UNMATCHED_PAYMENTS, -topup.applied_cents),
        ],
        order_id=held.order_id,
    )
    notice = Notice(
        PaymentUnmatched(
            customer_id=topup.customer_id,
            order_id=held.order_id,
            event_id=topup.event_id,
            amount=cents_to_decimal(topup.applied_cents),
            reason="hold_lapsed",
            detail=f"{why}; the payment is kept as unmatched for ops",
        ),
        cause=cause,
        time=held.due_by,
    )
    return entry, notice


def _move_buckets(ctx: Context, moved: dict[str, Counter[str]]) -> None:
    """Every credit's net bucket moves in one statement, in credit id order."""
    ctx.uow.add_to_many(
        schema.credits,
        schema.credits.c.credit_id,
        [
            {
                "credit_id": credit_id,
                "available_cents": deltas["available"],
                "held_cents": deltas["held"],
                "forfeited_cents": deltas["forfeited"],
            }
            for credit_id, deltas in sorted(moved.items())
        ],
    )
