"""What residuo publishes (SPEC §3): one model per notification `data`.

Each model knows its CloudEvents `TYPE`, which is also its routing key; `outbound`
wraps them in envelopes. Amounts are `Decimal` in Python and two-decimal strings on
the wire; instants are aware datetimes, written as ISO 8601 with an offset. What one
payment, order or credit is worth, or a part of it, is an `Amount` (at most
`MAX_AMOUNT`, as inbound); a sum over several credits (`credit.applied`'s
`available_after`, a refund, a sweep's `amounts`) is a `Total`, unbounded: a customer
may hold any number of credits of the largest amount.

Extensions beyond SPEC §3: `payment.unmatched`, telling ops about a top-up payment that
settled nothing or settled too much (R8: reported to ops, never lost), and
`payment.matched`, telling them when such a payment later pays a difference after all,
so it is no longer theirs to return; `credit.restored`, telling the customer that the
credit which paid an order whose activation then failed is theirs again. An event that
is refused, including an activation for a cancelled order, is `event.rejected`.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Final, Literal

from pydantic import (
    AwareDatetime,
    Field,
    NonNegativeInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from messages import limits
from messages._fields import (
    Code,
    CreditId,
    CustomerId,
    EventId,
    EventType,
    OrderId,
    RequestId,
    Text,
    WireModel,
)
from messages.amounts import Amount, NonNegativeAmount, PositiveTotal, Total

__all__ = [
    "TOPUP_METHODS",
    "CreditApplied",
    "CreditExpired",
    "CreditExpiringSoon",
    "CreditGranted",
    "CreditOrigin",
    "CreditPortion",
    "CreditRestored",
    "CustomerNotification",
    "EventRejected",
    "HoldReleased",
    "NotificationData",
    "OrderFunded",
    "PaymentMatched",
    "PaymentUnmatched",
    "RefundRequested",
    "RequestRejected",
    "SpidDeadlineApproaching",
    "SpidOrderCancelled",
    "SweepCompleted",
    "SweepKind",
    "TopupMethod",
    "TopupRequired",
    "UnmatchedReason",
    "topup_reference",
]

CreditOrigin = Literal["activation_failed", "spid_timeout", "goodwill"]
TopupMethod = Literal["bollettino", "bonifico"]
SweepKind = Literal["expiry", "spid_timeout", "reminders", "holds", "all"]
UnmatchedReason = Literal[
    "nothing_due", "overpaid", "hold_lapsed", "activation_failed", "reference_unparsed"
]

TOPUP_METHODS: Final[tuple[TopupMethod, ...]] = ("bollettino", "bonifico")
"""How a difference may be paid (R6), the default of `topup.required.payment_methods`."""


DeadLetterId = Annotated[str, StringConstraints(max_length=limits.DEAD_LETTER_ID_MAX_LENGTH)]
"""A dead letter's id: ``sha256:<hex>`` of its body, or a Dramatiq message id."""


def topup_reference(order_id: str) -> str:
    """The payment reference a customer must quote to top up `order_id` (R6)."""
    return f"integrazione {order_id}"


class NotificationData(WireModel):
    """Base of every notification payload; `TYPE` is its CloudEvents type and routing key."""

    TYPE: ClassVar[str]


class CustomerNotification(NotificationData):
    """A notification about one customer's account, who becomes the envelope's `subject`."""

    customer_id: CustomerId


class CreditPortion(WireModel):
    """How much of one credit an operation used."""

    credit_id: CreditId
    amount: Amount


class CreditGranted(CustomerNotification):
    """A credit was created: a failed activation (R1) or a SPID timeout (R5)."""

    TYPE: ClassVar[str] = "credit.granted"
    credit_id: CreditId
    origin: CreditOrigin
    source_order_id: OrderId
    amount: Amount
    expires_at: AwareDatetime
    refundable: bool


class SpidOrderCancelled(CustomerNotification):
    """A SPID order was not activated within its deadline and is cancelled (R5)."""

    TYPE: ClassVar[str] = "spid.order_cancelled"
    order_id: OrderId
    paid_at: AwareDatetime
    cancelled_at: AwareDatetime
    credit_id: CreditId
    amount: Amount
    expires_at: AwareDatetime


class CreditApplied(CustomerNotification):
    """Credit covered the whole new order (R6); `from_credits` says which credits."""

    TYPE: ClassVar[str] = "credit.applied"
    request_id: RequestId
    order_id: OrderId
    applied: Amount
    from_credits: list[CreditPortion]
    available_after: Total


class TopupRequired(CustomerNotification):
    """Credit is held for the order; the rest is due with `payment_reference`, which
    defaults to (and must be) ``integrazione <order_id>``."""

    TYPE: ClassVar[str] = "topup.required"
    request_id: RequestId
    order_id: OrderId
    order_amount: Amount
    held: NonNegativeAmount
    amount_due: NonNegativeAmount
    payment_methods: list[TopupMethod] = Field(default_factory=lambda: list(TOPUP_METHODS))
    payment_reference: str = Field(default="", validate_default=True)
    due_by: AwareDatetime

    @field_validator("payment_reference")
    @classmethod
    def _reference_names_order(cls, reference: str, info: ValidationInfo) -> str:
        order_id = info.data.get("order_id")
        if order_id is None:
            return reference
        expected = topup_reference(order_id)
        if reference not in ("", expected):
            raise PydanticCustomError(
                "wrong_reference", "must be '{expected}'", {"expected": expected}
            )
        return expected


class OrderFunded(CustomerNotification):
    """The difference was paid: the held credit (`applied`) is committed to the order."""

    TYPE: ClassVar[str] = "order.funded"
    order_id: OrderId
    applied: Amount
    paid: Amount


class HoldReleased(CustomerNotification):
    """The hold window lapsed unpaid: credit returns, or is forfeited if past expiry."""

    TYPE: ClassVar[str] = "hold.released"
    order_id: OrderId
    released: NonNegativeAmount
    forfeited: NonNegativeAmount


class RefundRequested(CustomerNotification):
    """Refundable credit moved to refunds payable (R9); ops pays it out."""

    TYPE: ClassVar[str] = "refund.requested"
    request_id: RequestId
    amount: PositiveTotal
    from_credits: list[CreditPortion]


class CreditExpired(CustomerNotification):
    """A credit reached `expired_at`; its unused remainder is forfeited (R4)."""

    TYPE: ClassVar[str] = "credit.expired"
    credit_id: CreditId
    forfeited: NonNegativeAmount
    expired_at: AwareDatetime


class CreditExpiringSoon(CustomerNotification):
    """Reminder (R10): a credit with a remaining balance expires in `days_left` days."""

    TYPE: ClassVar[str] = "credit.expiring_soon"
    credit_id: CreditId
    remaining: Amount
    expires_at: AwareDatetime
    days_left: NonNegativeInt


class SpidDeadlineApproaching(CustomerNotification):
    """Reminder (R10): a SPID order must be activated by `deadline`."""

    TYPE: ClassVar[str] = "spid.deadline_approaching"
    order_id: OrderId
    deadline: AwareDatetime
    days_left: NonNegativeInt


class RequestRejected(CustomerNotification):
    """A credit request refused by a rule. `reason` is an open set of short codes
    (``no_credit``, ``credit_expired``, ``not_owner``, ``not_refundable``,
    ``same_order``, ``missing_documents``, ``already_funded``, and the extensions
    ``purpose_not_allowed``, ``credit_held``, ``unknown_credit``, ``order_failed``,
    ``order_cancelled``, ``blank_document``, ``no_credit_named``, …); `message` is
    the text shown to the customer."""

    TYPE: ClassVar[str] = "request.rejected"
    request_id: RequestId
    reason: Code
    message: Text


class EventRejected(NotificationData):
    """For ops: an inbound event that was refused.

    `event_id` is the event's id; for a body whose id could not be read it is the
    body's id (``sha256:…``, see `dead_letter_id`). `event_type` is the event's type,
    or ``unknown``. Extension: `dead_letter_id` is set when the event could never be
    valid and was dead-lettered: the id ``residuo dead-letters`` lists it under and
    takes to replay, drop or archive it. A valid event refused by a rule (an
    activation of a cancelled order) is not dead-lettered, and has none.
    """

    TYPE: ClassVar[str] = "event.rejected"
    event_id: EventId | None
    event_type: EventType | None
    reason: Code
    detail: Text
    dead_letter_id: DeadLetterId | None = None


class SweepCompleted(NotificationData):
    """A sweep finished: how many items and how much money per outcome."""

    TYPE: ClassVar[str] = "sweep.completed"
    kind: SweepKind
    as_of: AwareDatetime
    counts: dict[str, NonNegativeInt]
    amounts: dict[str, Total]


class PaymentUnmatched(CustomerNotification):
    """For ops: money from a top-up payment (`event_id`) that settled nothing due on
    `order_id`; `amount` is that unmatched part (the excess, when ``overpaid``)."""

    TYPE: ClassVar[str] = "payment.unmatched"
    order_id: OrderId
    event_id: EventId
    amount: Amount
    reason: UnmatchedReason
    detail: Text


class CreditRestored(CustomerNotification):
    """R1 for an order paid with credit: its activation failed, so the credit it took is
    available again on the credits it came from (`from_credits`), each keeping its own
    expiry; what was already past its expiry is `forfeited` at once."""

    TYPE: ClassVar[str] = "credit.restored"
    order_id: OrderId
    restored: Amount
    forfeited: NonNegativeAmount
    from_credits: list[CreditPortion] = Field(min_length=1)


class PaymentMatched(CustomerNotification):
    """For ops: a payment once reported as `payment.unmatched` (`event_id`) now pays
    `amount` of the difference on `order_id`, for the transfer `request_id`."""

    TYPE: ClassVar[str] = "payment.matched"
    order_id: OrderId
    event_id: EventId
    request_id: RequestId
    amount: Amount
