"""From an inbound event to the rule that applies it, and what follows from it.

One path, taken alike by an event as it comes (``ledger.service``) and by every event
of a component derived again in business-time order (``ledger.corrections``): apply
the rule, record the outcome in the inbox, report a refusal to ops, and apply the
events parked waiting for an order the event may have paid.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from ledger import inbox
from ledger.adjustments import apply_adjustment
from ledger.context import Context
from ledger.orders import (
    record_activation_completed,
    record_activation_failed,
    record_order_payment,
)
from ledger.outcomes import Applied, Outcome
from ledger.requests import record_credit_request
from ledger.rules import read_topup_reference
from ledger.topups import record_topup, record_unreadable_topup
from messages.adjustments import Adjustment, BookedEvent
from messages.inbound import (
    ActivationCompletedEvent,
    ActivationFailedEvent,
    CreditRequestedEvent,
    PaymentReceivedEvent,
)
from messages.notifications import EventRejected

__all__ = ["Dispatched", "apply_event", "report_event", "same_instant_rank"]


@dataclass(frozen=True, slots=True)
class Dispatched:
    """What applying an event did: its outcome, then each parked event it let apply
    (with that one's outcome), in the order they were applied."""

    applied: Applied
    unparked: tuple[tuple[BookedEvent, Applied], ...] = ()


def apply_event(ctx: Context, event: BookedEvent) -> Dispatched:
    """Apply a claimed event, then the events parked waiting for an order it paid, or
    whose fate it decided (a failure leaves nothing for a parked activation to wait for:
    it is refused and reported, never left waiting in silence)."""
    applied = _apply_and_close(ctx, event, stored=Outcome.APPLIED)
    unparked: list[tuple[BookedEvent, Applied]] = []
    if applied.outcome is Outcome.APPLIED:
        for order_id in _orders_it_names(event):
            for parked in inbox.parked_events(ctx, order_id):
                unparked.append((parked, _apply_and_close(ctx, parked, stored=Outcome.PARKED)))
    return Dispatched(applied, tuple(unparked))


def same_instant_rank(event: BookedEvent) -> int:
    """Which of two events at the same business instant comes first: the price paid,
    then the activation outcome (a credit exists from its grant), then a request
    spending credit, then a top-up paying what the request left due, then an operator's
    adjustment, which corrects what all of these did."""
    if isinstance(event, PaymentReceivedEvent):
        return 3 if read_topup_reference(event.data.reference) is not None else 0
    if isinstance(event, CreditRequestedEvent):
        return 2
    if isinstance(event, Adjustment):
        return 4
    return 1


def report_event(
    ctx: Context,
    event_id: str,
    event_type: str,
    reason: str,
    detail: str,
    *,
    cause: str,
    time: datetime,
    derived: bool = False,
    dead_letter_id: str | None = None,
) -> None:
    """Tell ops about an event (``event.rejected``): ``derived`` when a rule refused it,
    which a correction may take back; ``dead_letter_id`` when it is dead-lettered."""
    ctx.notify(
        EventRejected(
            event_id=event_id,
            event_type=event_type,
            reason=reason,
            detail=detail,
            dead_letter_id=dead_letter_id,
        ),
        cause=cause,
        time=time,
        derived=derived,
    )


def _apply_and_close(ctx: Context, event: BookedEvent, *, stored: Outcome) -> Applied:
    """Apply one event, record its outcome (its inbox row says ``stored`` until then),
    and report a refusal to ops."""
    applying = replace(ctx, event_id=event.id)
    applied = _apply(applying, event)
    inbox.close(applying, event, applied, stored=stored)
    if applied.outcome is Outcome.REFUSED:
        assert applied.reason is not None and applied.detail is not None
        report_event(
            applying,
            event.id,
            event.type,
            applied.reason,
            applied.detail,
            cause=f"refused|{event.id}",
            time=inbox.business_time(event),
            derived=True,
        )
    return applied


def _apply(ctx: Context, event: BookedEvent) -> Applied:
    if isinstance(event, PaymentReceivedEvent):
        topup = read_topup_reference(event.data.reference)
        if topup is None:
            return record_order_payment(ctx, event.id, event.data)
        if topup.order_id is None:
            return record_unreadable_topup(ctx, event.id, event.data)
        return record_topup(ctx, event.id, topup.order_id, event.data)
    if isinstance(event, ActivationCompletedEvent):
        return record_activation_completed(ctx, event.id, event.data)
    if isinstance(event, ActivationFailedEvent):
        return record_activation_failed(ctx, event.id, event.data)
    if isinstance(event, Adjustment):
        return apply_adjustment(ctx, event)
    return record_credit_request(ctx, event.id, event.data)


def _orders_it_names(event: BookedEvent) -> list[str]:
    """The orders an event may have paid (by card, with credit, by a top-up that funded
    a hold) or settled (activated, failed): the events parked for them may apply now."""
    if isinstance(event, PaymentReceivedEvent):
        topup = read_topup_reference(event.data.reference)
        if topup is None:
            return [event.data.order_id]
        return [topup.order_id] if topup.order_id else []
    if isinstance(event, CreditRequestedEvent):
        return [event.data.new_order.order_id] if event.data.new_order is not None else []
    if isinstance(event, Adjustment):
        return []
    return [event.data.order_id]
