"""Top-up payments, "integrazione <order>" (R8): they settle what a hold left due."""

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update

from ledger.books import Account, Line
from ledger.context import Context
from ledger.fell_due import settle_what_fell_due
from ledger.holds import commit_hold
from ledger.money import cents_to_decimal, decimal_to_cents
from ledger.orders import lock_order
from ledger.outcomes import APPLIED, Applied
from ledger.rules import settle_topup
from ledger.store import schema
from messages.inbound import PaymentReceived
from messages.notifications import (
    PaymentMatched,
    PaymentUnmatched,
    TopupRequired,
    UnmatchedReason,
    topup_reference,
)

__all__ = ["apply_topup", "find_open_hold", "record_topup", "topup_required"]


def find_open_hold(ctx: Context, order_id: str) -> Row[Any] | None:
    """The transfer awaiting a top-up for ``order_id``."""
    column = schema.transfers.c
    query = (
        select(schema.transfers)
        .where(column.order_id == order_id, column.status == "awaiting_topup")
        .with_for_update()
    )
    return ctx.uow.connection.execute(query).one_or_none()


def topup_required(ctx: Context, held: Row[Any], *, cause: str, at: datetime) -> None:
    """Tell the customer what is still due, and how to pay it."""
    amount_due = held.order_amount_cents - held.credit_cents - held.paid_cents
    ctx.notify(
        TopupRequired(
            customer_id=held.customer_id,
            request_id=held.request_id,
            order_id=held.order_id,
            order_amount=cents_to_decimal(held.order_amount_cents),
            held=cents_to_decimal(held.credit_cents),
            amount_due=cents_to_decimal(amount_due),
            payment_reference=topup_reference(held.order_id),
            due_by=ctx.local(held.due_by),
        ),
        cause=cause,
        time=at,
    )


def record_topup(ctx: Context, event_id: str, order_ref: str, payment: PaymentReceived) -> Applied:
    """Book a top-up payment and settle it against the open hold for ``order_ref``."""
    lock_order(ctx, order_ref)
    amount = decimal_to_cents(payment.amount)
    ctx.uow.connection.execute(
        schema.topups.insert().values(
            event_id=event_id,
            order_id=order_ref,
            customer_id=payment.customer_id,
            amount_cents=amount,
            paid_at=payment.paid_at,
        )
    )
    ctx.post(
        kind="topup_received",
        customer_id=payment.customer_id,
        cause=event_id,
        effective_at=payment.paid_at,
        memo=f"top-up payment 'integrazione {order_ref}' ({payment.method})",
        lines=[Line(Account.CASH, amount), Line(Account.UNMATCHED_PAYMENTS, -amount)],
        order_id=order_ref,
    )
    held = find_open_hold(ctx, order_ref)
    if held is not None and payment.paid_at >= held.due_by:
        # Judged at its own business time: the hold had lapsed before this payment. It
        # is released with every other hold of its customer lapsed by then, in key
        # order, as a request or the holds run releases them: holds of one credit act
        # on each other, and releasing this one alone first would forfeit less.
        settle_what_fell_due(ctx, held.customer_id, payment.paid_at)
        held = None
    if held is None:
        reason: UnmatchedReason = (
            "hold_lapsed" if _lapsed_before(ctx, order_ref, payment.paid_at) else "nothing_due"
        )
        return _unmatched(ctx, event_id, order_ref, payment, amount=amount, reason=reason)
    apply_topup(
        ctx,
        held,
        topup_event_id=event_id,
        payer_id=payment.customer_id,
        amount=amount,
        # Paid before the request it settles (delivered after it): it counts from the
        # request on, when there was a hold to commit.
        at=max(payment.paid_at, held.requested_at),
    )
    return APPLIED


def record_unreadable_topup(ctx: Context, event_id: str, payment: PaymentReceived) -> Applied:
    """A payment whose reference speaks of a top-up but names no order for sure (R8):
    kept in unmatched payments and reported (``reference_unparsed``), never booked as
    the price of an order, whatever its ``order_id`` says."""
    amount = decimal_to_cents(payment.amount)
    ctx.post(
        kind="topup_received",
        customer_id=payment.customer_id,
        cause=event_id,
        effective_at=payment.paid_at,
        memo=f"payment referenced {payment.reference!r} ({payment.method}), kept for ops",
        lines=[Line(Account.CASH, amount), Line(Account.UNMATCHED_PAYMENTS, -amount)],
        order_id=payment.order_id,
    )
    ctx.notify(
        PaymentUnmatched(
            customer_id=payment.customer_id,
            order_id=payment.order_id,
            event_id=event_id,
            amount=cents_to_decimal(amount),
            reason="reference_unparsed",
            detail=f"the reference {payment.reference!r} speaks of a top-up but names no "
            "order for sure; the payment is kept as unmatched for ops",
        ),
        cause=event_id,
        time=payment.paid_at,
    )
    return APPLIED


def _lapsed_before(ctx: Context, order_id: str, instant: datetime) -> bool:
    """Whether the last hold for ``order_id`` lapsed unpaid by ``instant``: a top-up
    paid after that is told so, whether or not the sweep had released it yet."""
    column = schema.transfers.c
    last = ctx.uow.connection.execute(
        select(column.status, column.due_by, column.failed_at)
        .where(column.order_id == order_id, column.requested_at <= instant)
        .order_by(column.requested_at.desc(), column.request_id.desc())
        .limit(1)
    ).one_or_none()
    return (
        last is not None
        and last.status == "released"
        and last.failed_at is None
        and last.due_by <= instant
    )


def apply_topup(
    ctx: Context,
    held: Row[Any],
    *,
    topup_event_id: str,
    payer_id: str,
    amount: int,
    at: datetime,
    early: bool = False,
) -> int:
    """Match ``amount`` of a booked top-up to ``held``; commit the hold once fully paid.

    The matching is booked on the payer's accounts, where the payment was booked: anyone
    quoting the reference may pay the difference, and moving the money onto the order
    owner's accounts would leave the owner's unmatched payments negative (R11).
    An ``early`` top-up was paid before the hold existed and kept unmatched: ops are told
    it now counts (``payment.matched``), and the caller, which matches every early
    top-up at once, asks for what is still due after all of them; otherwise a part
    payment is answered with a fresh ``topup.required`` for the rest.
    Returns the cents applied; any excess stays in unmatched payments and ops are told.
    """
    amount_due = held.order_amount_cents - held.credit_cents - held.paid_cents
    settlement = settle_topup(amount_due, amount)
    if settlement.applied:
        ctx.post(
            kind="topup_matched",
            customer_id=payer_id,
            cause=topup_event_id,
            effective_at=at,
            memo=f"top-up pays the difference on order {held.order_id}",
            lines=[
                Line(Account.UNMATCHED_PAYMENTS, settlement.applied),
                Line(Account.TOPUPS_RECEIVED, -settlement.applied),
            ],
            order_id=held.order_id,
        )
        ctx.uow.connection.execute(
            update(schema.topups)
            .where(schema.topups.c.event_id == topup_event_id)
            .values(applied_cents=schema.topups.c.applied_cents + settlement.applied)
        )
    if early:
        ctx.notify(
            PaymentMatched(
                customer_id=payer_id,
                order_id=held.order_id,
                event_id=topup_event_id,
                request_id=held.request_id,
                amount=cents_to_decimal(settlement.applied),
            ),
            cause=f"{topup_event_id}|matched|{held.request_id}",
            time=at,
        )
    paid = held.paid_cents + settlement.applied
    ctx.uow.connection.execute(
        update(schema.transfers)
        .where(schema.transfers.c.request_id == held.request_id)
        .values(paid_cents=paid)
    )
    if settlement.still_due == 0:
        commit_hold(ctx, held, paid_cents=paid, at=at, cause=topup_event_id)
    elif not early:
        refreshed = find_open_hold(ctx, held.order_id)
        assert refreshed is not None
        topup_required(ctx, refreshed, cause=f"{held.request_id}|paid|{paid}", at=at)
    if settlement.excess:
        ctx.notify(
            PaymentUnmatched(
                customer_id=payer_id,
                order_id=held.order_id,
                event_id=topup_event_id,
                amount=cents_to_decimal(settlement.excess),
                reason="overpaid",
                detail=f"paid {cents_to_decimal(amount)} against {cents_to_decimal(amount_due)}"
                f" due on order {held.order_id}",
            ),
            # Its own cause: the same payment may have been reported unmatched before.
            cause=f"{topup_event_id}|overpaid|{held.request_id}",
            time=at,
        )
    return settlement.applied


def _unmatched(
    ctx: Context,
    event_id: str,
    order_ref: str,
    payment: PaymentReceived,
    *,
    amount: int,
    reason: UnmatchedReason,
) -> Applied:
    explanation = {
        "nothing_due": f"no credit transfer awaits a top-up for order {order_ref}",
        "hold_lapsed": f"the hold for order {order_ref} lapsed before this payment",
    }[reason]
    ctx.notify(
        PaymentUnmatched(
            customer_id=payment.customer_id,
            order_id=order_ref,
            event_id=event_id,
            amount=cents_to_decimal(amount),
            reason=reason,
            detail=f"{explanation}; the payment is kept as unmatched for ops",
        ),
        cause=event_id,
        time=payment.paid_at,
    )
    return APPLIED
