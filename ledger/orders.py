"""Orders and their activation: R1 (failure makes credit) and R5 (SPID timeout).

Every event naming an order is judged by the order lifecycle (``ledger.lifecycle``):
this module reads the order into an ``OrderView``, asks the lifecycle what the arrival
does, and applies it. An order paid by card is an ``orders`` row; one paid with credit
is its transfer's (``ledger.funded_orders``). An activation event for an order not paid
yet is parked by the caller and re-applied, in business-time order, when the order is.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row, bindparam, select, update

from ledger.books import Account, transfer
from ledger.context import Context
from ledger.credit_book import credit_id_for_order, grant_credit
from ledger.funded_orders import find_funding, record_funded_failure
from ledger.holds import release_lapsed_holds_of
from ledger.lifecycle import (
    Arrival,
    Funding,
    OrderState,
    Step,
    Transition,
    order_state,
    refusal_message,
    transition,
)
from ledger.money import cents_to_decimal, decimal_to_cents
from ledger.outcomes import APPLIED, PARKED, Applied
from ledger.rules import credit_expiry, spid_credit_expiry, spid_deadline
from ledger.store import schema
from messages.inbound import ActivationCompleted, ActivationFailed, PaymentReceived
from messages.notifications import SpidOrderCancelled

__all__ = [
    "OrderView",
    "cancel_spid_order",
    "load_order_view",
    "lock_order",
    "order_at",
    "order_lock_key",
    "record_activation_completed",
    "record_activation_failed",
    "record_order_payment",
]


def order_lock_key(order_id: str) -> str:
    """The lock serialising everything that touches one order number: its payment, its
    activation events (parked or not), a transfer onto it and its top-ups. Order
    numbers arrive canonical (``messages.OrderId``), so equal numbers share the key."""
    return f"order:{order_id}"


def lock_order(ctx: Context, order_id: str) -> None:
    """Take ``order_lock_key(order_id)`` for the rest of the transaction."""
    ctx.uow.lock(order_lock_key(order_id))


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order number as the lifecycle sees it, with the rows it was read from."""

    order_id: str
    state: OrderState
    card: Row[Any] | None
    """The ``orders`` row, when the order was paid by card."""
    funding: Row[Any] | None
    """The ``transfers`` row, when the order was paid (or is being paid) with credit."""

    @property
    def funded_by(self) -> Funding | None:
        if self.card is not None:
            return Funding.CARD
        return Funding.CREDIT if self.funding is not None else None

    @property
    def customer_id(self) -> str | None:
        """The account that paid the order; None while it is new."""
        row = self.card if self.card is not None else self.funding
        return None if row is None else str(row.customer_id)

    def next(self, arrival: Arrival) -> Transition:
        """What ``arrival`` does to this order (``ledger.lifecycle.LIFECYCLE``)."""
        return transition(self.state, arrival)


_ORDER: Final = (
    select(schema.orders).where(schema.orders.c.order_id == bindparam("order_id")).with_for_update()
)
"""An order's row, locked: read by nearly every event, built once."""

_INSERT_ORDER: Final = schema.orders.insert()
"""A paid order's row, values given as parameters (a statement built anew at each
payment cost more client time than its round trip)."""

_MARK_FAILED: Final = (
    update(schema.orders)
    .where(schema.orders.c.order_id == bindparam("failed_order_id"))
    .values(
        status=bindparam("failed_status"),
        failed_at=bindparam("failed_failed_at", type_=schema.orders.c.failed_at.type),
    )
)


def load_order_view(ctx: Context, order_id: str) -> OrderView:
    """The order ``order_id``, its rows locked for update (call ``lock_order`` first)."""
    card = ctx.uow.connection.execute(_ORDER, {"order_id": order_id}).one_or_none()
    funding = None if card is not None else find_funding(ctx, order_id)
    state = order_state(
        card_status=None if card is None else card.status,
        transfer_status=None if funding is None else funding.status,
        activated=funding is not None and funding.activated_at is not None,
        failed=funding is not None and funding.failed_at is not None,
    )
    return OrderView(order_id=order_id, state=state, card=card, funding=funding)


def record_order_payment(ctx: Context, event_id: str, payment: PaymentReceived) -> Applied:
    """Register a paid order, awaiting activation; a SPID order gets its deadline (R5).

    An order is paid once: a payment for an order already paid, by card or with
    credit, is kept for ops (``order_already_paid``, ``order_funded_with_credit``)."""
    lock_order(ctx, payment.order_id)
    order = order_at(ctx, payment.order_id, payment.paid_at)
    step = order.next(Arrival.PAYMENT)
    if step.step is Step.KEEP_FOR_OPS:
        by_credit = order.funded_by is Funding.CREDIT
        return _keep_for_ops(
            ctx,
            event_id,
            payment,
            reason=step.reason_for(order.funded_by),
            detail=f"order {payment.order_id} is already "
            + ("funded (or being funded) with credit" if by_credit else "paid")
            + f" ({order.state})",
        )
    assert step.step is Step.ADVANCE
    amount_cents = decimal_to_cents(payment.amount)
    is_spid = payment.service.lower() == ctx.policy.spid_service
    ctx.uow.connection.execute(
        _INSERT_ORDER,
        {
            "order_id": payment.order_id,
            "customer_id": payment.customer_id,
            "service": payment.service.lower(),
            "amount_cents": amount_cents,
            "paid_at": payment.paid_at,
            "method": payment.method,
            "status": OrderState.AWAITING_ACTIVATION.value,
            "activation_deadline": spid_deadline(payment.paid_at, ctx.policy) if is_spid else None,
        },
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


def order_at(ctx: Context, order_id: str, at: datetime) -> OrderView:
    """The order ``order_id`` as the rules have it at business time ``at``, whether or
    not the sweep has run yet: a SPID order past its deadline was cancelled then (R5); a
    hold past its window was released then (R6), so the order is new again. Both are
    settled here as the sweep settles them (same dates, same causes)."""
    order = load_order_view(ctx, order_id)
    card, funding = order.card, order.funding
    if (
        card is not None
        and order.state is OrderState.AWAITING_ACTIVATION
        and card.activation_deadline is not None
        and at >= card.activation_deadline
    ):
        cancel_spid_order(ctx, card, cause=f"spid_timeout|{card.order_id}")
        return load_order_view(ctx, order.order_id)
    if funding is not None and order.state is OrderState.AWAITING_TOPUP and at >= funding.due_by:
        # With every other hold of its customer lapsed by then, in key order.
        release_lapsed_holds_of(ctx, funding.customer_id, at)
        return load_order_view(ctx, order.order_id)
    return order


def _not_applied(ctx: Context, order: OrderView, step: Transition) -> Applied | None:
    """The outcome of a step that changes nothing; None for ``ADVANCE``."""
    if step.step is Step.PARK:
        return PARKED
    if step.step is Step.IGNORE:
        return APPLIED
    if step.step is Step.REFUSE:
        reason = step.reason_for(order.funded_by)
        detail = refusal_message(reason, order.order_id)
        if order.card is not None and order.card.cancelled_at is not None:
            detail += f" (cancelled on {ctx.local(order.card.cancelled_at).isoformat()})"
        return Applied.refused(reason, detail)
    return None


def record_activation_completed(
    ctx: Context, event_id: str, activation: ActivationCompleted
) -> Applied:
    """The order went live; a cancelled SPID order cannot be activated (R5)."""
    lock_order(ctx, activation.order_id)
    order = order_at(ctx, activation.order_id, activation.activated_at)
    step = order.next(Arrival.ACTIVATION_COMPLETED)
    if (outcome := _not_applied(ctx, order, step)) is not None:
        return outcome
    if order.funding is not None:
        # Paid with credit: the credit was booked as applied already, nothing moves.
        _mark_transfer(ctx, order.funding, activated_at=activation.activated_at)
        return APPLIED
    card = order.card
    assert card is not None
    activated_at = _not_before_payment(activation.activated_at, card)
    ctx.uow.connection.execute(
        update(schema.orders)
        .where(schema.orders.c.order_id == card.order_id)
        .values(status=OrderState.ACTIVE.value, activated_at=activated_at)
    )
    ctx.post(
        kind="order_activated",
        customer_id=card.customer_id,
        cause=event_id,
        effective_at=activated_at,
        memo=f"order {card.order_id} activated",
        lines=transfer(Account.ORDER_PREPAYMENTS, Account.REVENUE, card.amount_cents),
        order_id=card.order_id,
    )
    return APPLIED


def record_activation_failed(ctx: Context, event_id: str, failure: ActivationFailed) -> Applied:
    """R1: a failed activation gives back what paid the order, once."""
    lock_order(ctx, failure.order_id)
    order = order_at(ctx, failure.order_id, failure.failed_at)
    step = order.next(Arrival.ACTIVATION_FAILED)
    if (outcome := _not_applied(ctx, order, step)) is not None:
        return outcome
    if order.funding is not None:
        record_funded_failure(ctx, order.funding, failure)
        return APPLIED
    card = order.card
    assert card is not None
    failed_at = _not_before_payment(failure.failed_at, card)
    ctx.uow.connection.execute(
        _MARK_FAILED,
        {
            "failed_order_id": card.order_id,
            "failed_status": OrderState.FAILED.value,
            "failed_failed_at": failed_at,
        },
    )
    grant_credit(
        ctx,
        customer_id=card.customer_id,
        origin="activation_failed",
        source_order_id=card.order_id,
        amount_cents=card.amount_cents,
        granted_at=failed_at,
        expires_at=credit_expiry(card.paid_at, ctx.policy),
        cause=event_id,
    )
    return APPLIED


def _not_before_payment(at: datetime, card: Row[Any]) -> datetime:
    """An outcome reported as happening before its order was paid (upstream clocks
    disagree) is booked when the money was there: no credit, and no revenue, exists
    before the payment it comes from (R11 at every instant)."""
    paid_at: datetime = card.paid_at
    return max(at, paid_at)


def _mark_transfer(ctx: Context, funding: Row[Any], **instants: datetime) -> None:
    ctx.uow.connection.execute(
        update(schema.transfers)
        .where(schema.transfers.c.request_id == funding.request_id)
        .values(**instants)
    )


def cancel_spid_order(ctx: Context, order: Row[Any], *, cause: str) -> str | None:
    """R5: cancel an unactivated SPID order at its deadline and make its credit."""
    cancelled_at: datetime = order.activation_deadline
    ctx.uow.connection.execute(
        update(schema.orders)
        .where(schema.orders.c.order_id == order.order_id)
        .values(status=OrderState.CANCELLED.value, cancelled_at=cancelled_at)
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
    return grant_credit(
        ctx,
        customer_id=order.customer_id,
        origin="spid_timeout",
        source_order_id=order.order_id,
        amount_cents=order.amount_cents,
        granted_at=cancelled_at,
        expires_at=expires_at,
        cause=cause,
    )
