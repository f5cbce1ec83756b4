"""Paid orders and their activation: R1 (failure makes credit) and R5 (SPID timeout).

An activation event for an order whose payment has not arrived yet is parked by the
caller and re-applied here, in business-time order, when the payment lands (or the
credit transfer that pays it: see ``ledger.funded_orders``).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update

from ledger.books import Account, transfer
from ledger.context import Context
from ledger.credit_book import credit_id_for_order, grant_credit
from ledger.funded_orders import (
    find_funding,
    is_funded_with_credit,
    record_funded_activation,
    record_funded_failure,
)
from ledger.money import cents_to_decimal, decimal_to_cents
from ledger.outcomes import APPLIED, PARKED, Applied
from ledger.rules import credit_expiry, spid_credit_expiry, spid_deadline
from ledger.store import schema
from messages.inbound import ActivationCompleted, ActivationFailed, PaymentReceived
from messages.notifications import SpidOrderCancelled

__all__ = [
    "cancel_spid_order",
    "load_order",
    "lock_order",
    "order_lock_key",
    "record_activation_completed",
    "record_activation_failed",
    "record_order_payment",
]


def order_lock_key(order_id: str) -> str:
    """The lock serialising everything that touches one order number: its payment, its
    activation events (parked or not), a transfer onto it and its top-ups. Case-blind,
    like the top-up references that name it."""
    return f"order:{order_id.upper()}"


def lock_order(ctx: Context, order_id: str) -> None:
    """Take ``order_lock_key(order_id)`` for the rest of the transaction."""
    ctx.uow.lock(order_lock_key(order_id))


def load_order(ctx: Context, order_id: str) -> Row[Any] | None:
    """An order row, locked for update, or None if its payment has not arrived."""
    query = select(schema.orders).where(schema.orders.c.order_id == order_id).with_for_update()
    return ctx.uow.connection.execute(query).one_or_none()


def record_order_payment(ctx: Context, event_id: str, payment: PaymentReceived) -> Applied:
    """Register a paid order, awaiting activation; a SPID order gets its deadline (R5)."""
    lock_order(ctx, payment.order_id)
    amount_cents = decimal_to_cents(payment.amount)
    if is_funded_with_credit(ctx, payment.order_id):
        return _keep_for_ops(
            ctx,
            event_id,
            payment,
            reason="order_funded_with_credit",
            detail=f"order {payment.order_id} is funded (or being funded) with credit",
        )
    is_spid = payment.service.lower() == ctx.policy.spid_service
    inserted = ctx.uow.insert_ignoring_conflicts(
        schema.orders,
        {
            "order_id": payment.order_id,
            "customer_id": payment.customer_id,
            "service": payment.service.lower(),
            "amount_cents": amount_cents,
            "paid_at": payment.paid_at,
            "method": payment.method,
            "status": "awaiting_activation",
            "activation_deadline": spid_deadline(payment.paid_at, ctx.policy) if is_spid else None,
        },
    )
    if not inserted:
        return _keep_for_ops(
            ctx,
            event_id,
            payment,
            reason="order_already_paid",
            detail=f"order {payment.order_id} is already recorded as paid by an earlier event",
        )
    ctx.post(
        kind="order_paid",
        customer_id=payment.customer_id,
        cause=event_id,
        effective_at=payment.paid_at,
        memo=f"payment for order {payment.order_id} ({payment.service}, {payment.method})",
        lines=transfer(Account.CASH, Account.ORDER_PREPAYMENTS, amount_cents),
        order_id=payment.order_id,
    )
    return APPLIED


def _keep_for_ops(
    ctx: Context, event_id: str, payment: PaymentReceived, *, reason: str, detail: str
) -> Applied:
    """A payment for an order already paid is money all the same: it is kept in
    unmatched payments for ops to return or reassign, never dropped, and reported."""
    amount_cents = decimal_to_cents(payment.amount)
    ctx.post(
        kind="duplicate_payment",
        customer_id=payment.customer_id,
        cause=event_id,
        effective_at=payment.paid_at,
        memo=f"second payment for order {payment.order_id}, kept for ops",
        lines=transfer(Account.CASH, Account.UNMATCHED_PAYMENTS, amount_cents),
        order_id=payment.order_id,
    )
    return Applied.refused(
        reason,
        f"{detail}; this payment of {cents_to_decimal(amount_cents)} is kept in unmatched payments",
    )


def _cancel_if_overdue(ctx: Context, order: Row[Any], at: datetime, cause: str) -> Row[Any]:
    """R5 judged at an event's business time: past the deadline, the order is cancelled."""
    deadline = order.activation_deadline
    if order.status == "awaiting_activation" and deadline is not None and at >= deadline:
        cancel_spid_order(ctx, order, cause=cause)
        reloaded = load_order(ctx, order.order_id)
        assert reloaded is not None
        return reloaded
    return order


def record_activation_completed(
    ctx: Context, event_id: str, activation: ActivationCompleted
) -> Applied:
    """Activate a paid order; a cancelled SPID order cannot be activated (R5)."""
    lock_order(ctx, activation.order_id)
    order = load_order(ctx, activation.order_id)
    if order is None:
        funding = find_funding(ctx, activation.order_id)
        return PARKED if funding is None else record_funded_activation(ctx, funding, activation)
    order = _cancel_if_overdue(ctx, order, activation.activated_at, cause=event_id)
    if order.status == "awaiting_activation":
        ctx.uow.connection.execute(
            update(schema.orders)
            .where(schema.orders.c.order_id == order.order_id)
            .values(status="active", activated_at=activation.activated_at)
        )
        ctx.post(
            kind="order_activated",
            customer_id=order.customer_id,
            cause=event_id,
            effective_at=activation.activated_at,
            memo=f"order {order.order_id} activated",
            lines=transfer(Account.ORDER_PREPAYMENTS, Account.REVENUE, order.amount_cents),
            order_id=order.order_id,
        )
        return APPLIED
    if order.status == "active":
        return APPLIED
    if order.status == "cancelled":
        return Applied.refused(
            "order_cancelled",
            f"SPID order {order.order_id} was cancelled on "
            f"{ctx.local(order.cancelled_at).isoformat()} (no activation within "
            f"{ctx.policy.spid_activation_days} days): activation is no longer possible",
        )
    return Applied.refused(
        "activation_already_failed",
        f"order {order.order_id} failed activation earlier and its payment became credit",
    )


def record_activation_failed(ctx: Context, event_id: str, failure: ActivationFailed) -> Applied:
    """R1: a failed activation turns the whole payment into credit, once."""
    lock_order(ctx, failure.order_id)
    order = load_order(ctx, failure.order_id)
    if order is None:
        funding = find_funding(ctx, failure.order_id)
        return PARKED if funding is None else record_funded_failure(ctx, funding, failure)
    order = _cancel_if_overdue(ctx, order, failure.failed_at, cause=event_id)
    if order.status == "awaiting_activation":
        ctx.uow.connection.execute(
            update(schema.orders)
            .where(schema.orders.c.order_id == order.order_id)
            .values(status="failed", failed_at=failure.failed_at)
        )
        grant_credit(
            ctx,
            customer_id=order.customer_id,
            origin="activation_failed",
            source_order_id=order.order_id,
            amount_cents=order.amount_cents,
            granted_at=failure.failed_at,
            expires_at=credit_expiry(order.paid_at, ctx.policy),
            cause=event_id,
        )
        return APPLIED
    if order.status == "failed":
        return APPLIED
    if order.status == "cancelled":
        return Applied.refused(
            "order_cancelled",
            f"SPID order {order.order_id} was already cancelled for timeout; its credit "
            "came from the cancellation, not from this failure",
        )
    return Applied.refused(
        "already_activated", f"order {order.order_id} was activated; a failure now is ignored"
    )


def cancel_spid_order(ctx: Context, order: Row[Any], *, cause: str) -> str | None:
    """R5: cancel an unactivated SPID order at its deadline and make its credit."""
    cancelled_at: datetime = order.activation_deadline
    ctx.uow.connection.execute(
        update(schema.orders)
        .where(schema.orders.c.order_id == order.order_id)
        .values(status="cancelled", cancelled_at=cancelled_at)
    )
    expires_at = spid_credit_expiry(order.paid_at, cancelled_at, ctx.policy)
    # The cancellation is told first, then the credit it makes: the outbox keeps
    # this order, and so does every consumer reading the queue.
    ctx.notify(
        SpidOrderCancelled(
            customer_id=order.customer_id,
            order_id=order.order_id,
            paid_at=ctx.local(order.paid_at),
            cancelled_at=ctx.local(cancelled_at),
            credit_id=credit_id_for_order(order.order_id),
            amount=cents_to_decimal(order.amount_cents),
            expires_at=ctx.local(expires_at),
        ),
        cause=order.order_id,
        time=cancelled_at,
    )
    credit_id = grant_credit(
        ctx,
        customer_id=order.customer_id,
        origin="spid_timeout",
        source_order_id=order.order_id,
        amount_cents=order.amount_cents,
        granted_at=cancelled_at,
        expires_at=expires_at,
        cause=cause,
    )
    return credit_id
