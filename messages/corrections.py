"""Notifications about what changes after it was told (extensions beyond SPEC §3).

A late event can show that something residuo already told was not so: a credit that
expired had in fact been spent in time, a hold released had been paid, a request
refused for want of credit had credit after all. Nothing is edited: the notification
that is no longer true is *voided* by a notification of its own, and what is true now
is told anew under a new id. Consumers rebuild the truth from the notifications alone:
every notification, less the ones voided.

The voiding notification's type says what the customer experiences:
``credit.reinstated`` (a `credit.expired` taken back), ``hold.reinstated`` (a
`hold.released`), ``spid.order_reinstated`` (a `spid.order_cancelled`),
``request.reconsidered`` (the outcome of a credit request: `credit.applied`,
`topup.required`, `order.funded`, `refund.requested` or `request.rejected`), and
``notification.voided`` for anything else. All carry the same fields.

``event.late`` tells ops about an event later than the allowed lateness: judged
against the books as they stand, with what it would have changed had it come in time.
``credit.adjusted`` tells the customer what an operator corrected by hand.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, NonNegativeInt

from messages._fields import (
    CreditId,
    CustomerId,
    EventId,
    EventType,
    Operator,
    OrderId,
    RequestId,
    Text,
    WireModel,
)
from messages.amounts import Amount
from messages.notifications import CustomerNotification, NotificationData

__all__ = [
    "AdjustmentAction",
    "CorrectionReason",
    "CreditAdjusted",
    "CreditReinstated",
    "EventLate",
    "HoldReinstated",
    "LateEventEffects",
    "NotificationVoided",
    "RequestReconsidered",
    "SpidOrderReinstated",
]

CorrectionReason = Literal["late_evidence", "adjustment"]
AdjustmentAction = Literal["reinstated", "extended", "voided", "goodwill"]


class NotificationVoided(NotificationData):
    """The notification `voided_id` (of type `voided_type`) is no longer true, because
    of `reason` (`detail` says which event or operator); correction `correction_id`
    booked the change. `credit_id`, `order_id` and `request_id` repeat the voided
    notification's, where it had them."""

    TYPE: ClassVar[str] = "notification.voided"
    customer_id: CustomerId | None
    voided_id: EventId
    voided_type: EventType
    reason: CorrectionReason
    detail: Text
    correction_id: NonNegativeInt
    credit_id: CreditId | None = None
    order_id: OrderId | None = None
    request_id: RequestId | None = None


class CreditReinstated(NotificationVoided):
    """A `credit.expired` taken back: the forfeited remainder is the customer's again
    (or another, smaller `credit.expired` follows)."""

    TYPE: ClassVar[str] = "credit.reinstated"


class HoldReinstated(NotificationVoided):
    """A `hold.released` taken back: the hold stood (it was paid, or still runs)."""

    TYPE: ClassVar[str] = "hold.reinstated"


class SpidOrderReinstated(NotificationVoided):
    """A `spid.order_cancelled` taken back: the order was activated (or failed) in time."""

    TYPE: ClassVar[str] = "spid.order_reinstated"


class RequestReconsidered(NotificationVoided):
    """The outcome told for a credit request is taken back; its new outcome follows."""

    TYPE: ClassVar[str] = "request.reconsidered"


class LateEventEffects(WireModel):
    """What an event would have changed had it come within the allowed lateness:
    entries reversed and booked, and the types of the notifications voided and told."""

    entries_reversed: NonNegativeInt
    entries_booked: NonNegativeInt
    voided: list[EventType]
    told: list[EventType]


class EventLate(NotificationData):
    """For ops: `event_id` came more than the allowed lateness behind the watermark, so
    it was judged against the books as they stood, not in business-time order.
    `would_have_changed` is what an in-time arrival would have changed; ops may book it
    by hand (``residuo adjust``)."""

    TYPE: ClassVar[str] = "event.late"
    event_id: EventId
    event_type: EventType
    business_time: AwareDatetime
    watermark: AwareDatetime
    allowed_lateness_days: NonNegativeInt
    would_have_changed: LateEventEffects
    detail: Text


class CreditAdjusted(CustomerNotification):
    """An operator corrected a credit by hand (``residuo adjust``): forfeited credit
    `reinstated`, its expiry `extended`, usable credit `voided`, or a `goodwill` credit
    granted. `amount` is what moved (null for an extension), `expires_at` the credit's
    expiry now; `adjustment_id` names the adjustment, kept with the books."""

    TYPE: ClassVar[str] = "credit.adjusted"
    credit_id: CreditId
    action: AdjustmentAction
    amount: Amount | None
    expires_at: AwareDatetime
    adjustment_id: EventId
    operator: Operator
    reason: Text
