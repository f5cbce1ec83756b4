"""Plain words for the demo: what an input line says, and what a notification tells.

Pure functions from wire models to sentences; the rules are not restated here,
only read back from what the ledger published.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from ledger.policy import Policy
from ledger.rules import read_topup_reference
from messages import (
    ActivationCompletedEvent,
    ActivationFailedEvent,
    CreditApplied,
    CreditExpired,
    CreditExpiringSoon,
    CreditGranted,
    CreditPortion,
    CreditRequestedEvent,
    CreditRestored,
    EventRejected,
    HoldReleased,
    InboundEvent,
    OrderFunded,
    PaymentMatched,
    PaymentReceivedEvent,
    PaymentUnmatched,
    RefundRequested,
    RequestRejected,
    SpidDeadlineApproaching,
    SpidOrderCancelled,
    TopupRequired,
    format_amount,
    parse_notification,
)

__all__ = ["describe_event", "describe_notification", "local_time"]

_CHANNELS = {"online_form": "online form", "documents": "documents procedure"}


def local_time(instant: datetime, policy: Policy) -> str:
    """``2025-01-10 09:30``, in the business time zone."""
    return instant.astimezone(policy.zone).strftime("%Y-%m-%d %H:%M")


def describe_event(event: InboundEvent, policy: Policy) -> str:
    """What an inbound event says happened, in one sentence."""
    if isinstance(event, PaymentReceivedEvent):
        paid = event.data
        amount = _money(paid.amount, policy)
        if read_topup_reference(paid.reference) is not None:
            return (
                f"{paid.customer_id} pays {amount} by {paid.method}, reference “{paid.reference}”"
            )
        return (
            f"{paid.customer_id} pays {amount} for order {paid.order_id} "
            f"({paid.service}, {paid.method})"
        )
    if isinstance(event, ActivationFailedEvent):
        reason = f": {event.data.reason}" if event.data.reason else ""
        return f"Activation of order {event.data.order_id} fails{reason}"
    if isinstance(event, ActivationCompletedEvent):
        return f"Order {event.data.order_id} is activated"
    assert isinstance(event, CreditRequestedEvent)
    request = event.data
    channel = _CHANNELS[request.channel]
    if request.documents:
        channel += f", {len(request.documents)} documents attached"
    if request.new_order is None:
        return f"{request.customer_id} asks for a refund of credit ({channel})"
    order = request.new_order
    return (
        f"{request.customer_id} asks to pay new order {order.order_id} "
        f"({order.purpose} of {order.service}, {_money(order.amount, policy)}) "
        f"with credit ({channel})"
    )


def describe_notification(envelope: bytes | Mapping[str, Any], policy: Policy) -> str | None:
    """What a notification tells its reader; None for ops bookkeeping (sweep totals)."""
    _, data = parse_notification(envelope)
    days = policy.spid_activation_days
    match data:
        case CreditGranted():
            refundable = "refundable" if data.refundable else "not refundable"
            return (
                f"Credit {data.credit_id} of {_money(data.amount, policy)} for "
                f"{data.customer_id}, usable until {local_time(data.expires_at, policy)} "
                f"({refundable})"
            )
        case SpidOrderCancelled():
            return (
                f"SPID order {data.order_id} cancelled: not activated within {days} days "
                f"(by {local_time(data.cancelled_at, policy)})"
            )
        case CreditApplied():
            return (
                f"{_money(data.applied, policy)} of credit pays order {data.order_id} "
                f"(from {_portions(data.from_credits, policy)}); "
                f"{_money(data.available_after, policy)} left"
            )
        case TopupRequired():
            return (
                f"{_money(data.held, policy)} of credit held for order {data.order_id}; "
                f"{_money(data.amount_due, policy)} due by {' or '.join(data.payment_methods)} "
                f"with reference “{data.payment_reference}” by {local_time(data.due_by, policy)}"
            )
        case OrderFunded():
            return (
                f"Order {data.order_id} funded: {_money(data.applied, policy)} of credit "
                f"+ {_money(data.paid, policy)} paid"
            )
        case HoldReleased():
            forfeited = (
                f", {_money(data.forfeited, policy)} forfeited (expired)" if data.forfeited else ""
            )
            return (
                f"Hold for order {data.order_id} lapsed: {_money(data.released, policy)} "
                f"back to credit{forfeited}"
            )
        case RefundRequested():
            return (
                f"{_money(data.amount, policy)} to be refunded to {data.customer_id} "
                f"(from {_portions(data.from_credits, policy)}); ops pay it out"
            )
        case CreditExpired():
            return f"Credit {data.credit_id} expired: {_money(data.forfeited, policy)} forfeited"
        case CreditExpiringSoon():
            return (
                f"Reminder to {data.customer_id}: {_money(data.remaining, policy)} of credit "
                f"{data.credit_id} expire in {data.days_left} days"
            )
        case SpidDeadlineApproaching():
            return (
                f"Reminder to {data.customer_id}: activate SPID order {data.order_id} "
                f"within {data.days_left} days (by {local_time(data.deadline, policy)})"
            )
        case RequestRejected():
            return f"Request {data.request_id} refused ({data.reason}): {data.message}"
        case EventRejected():
            return f"Ops told: event {data.event_id} rejected ({data.reason}): {data.detail}"
        case PaymentUnmatched():
            return (
                f"Ops told: {_money(data.amount, policy)} of payment {data.event_id} "
                f"unmatched ({data.reason})"
            )
        case CreditRestored():
            forfeited = (
                f", {_money(data.forfeited, policy)} forfeited (expired)" if data.forfeited else ""
            )
            return (
                f"Order {data.order_id} failed: {_money(data.restored, policy)} of credit back "
                f"(from {_portions(data.from_credits, policy)}){forfeited}"
            )
        case PaymentMatched():
            return (
                f"Ops told: {_money(data.amount, policy)} of payment {data.event_id} "
                f"now pays order {data.order_id}"
            )
        case _:
            return None


def _money(amount: Decimal, policy: Policy) -> str:
    return f"{format_amount(amount)} {policy.currency}"


def _portions(portions: list[CreditPortion], policy: Policy) -> str:
    return ", ".join(f"{each.credit_id} {_money(each.amount, policy)}" for each in portions)
