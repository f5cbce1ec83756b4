"""The events upstream publishes (SPEC §2) and the one way to read them.

`parse_inbound` is the only entry point a worker needs: whatever the body, it returns
a fully validated `InboundEvent` or raises `InvalidEvent` with a reason code and a
detail naming the offending field. Shape is judged here; business rules (is there
credit, does the order exist, were documents attached) are the ledger's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from messages._fields import (
    DEFAULT_CURRENCY,
    CreditId,
    Currency,
    CustomerId,
    OrderId,
    RequestId,
    ServiceName,
    WireModel,
)
from messages._wire import header, load_object, rejection
from messages.amounts import Amount
from messages.cloudevents import CloudEvent
from messages.errors import InvalidEvent
from messages.limits import CREDIT_IDS_MAX_COUNT

__all__ = [
    "INBOUND_TYPES",
    "ActivationCompleted",
    "ActivationCompletedEvent",
    "ActivationFailed",
    "ActivationFailedEvent",
    "CreditRequested",
    "CreditRequestedEvent",
    "InboundEvent",
    "NewOrder",
    "PaymentMethod",
    "PaymentReceived",
    "PaymentReceivedEvent",
    "Purpose",
    "RequestAction",
    "RequestChannel",
    "decode_body",
    "parse_inbound",
]

PaymentMethod = Literal["card", "paypal", "bollettino", "bonifico", "other"]
RequestAction = Literal["transfer", "refund"]
RequestChannel = Literal["online_form", "documents"]
Purpose = Literal["purchase", "renewal", "modification"]


class PaymentReceived(WireModel):
    """Money received for an order: its price, or a top-up whose `reference` reads
    ``integrazione <order number>`` (matching that reference is a ledger rule)."""

    order_id: OrderId
    customer_id: CustomerId
    service: ServiceName
    amount: Amount
    currency: Currency
    paid_at: AwareDatetime
    method: PaymentMethod
    reference: str | None = None


class ActivationCompleted(WireModel):
    """The paid order's service is live: it will never yield credit."""

    order_id: OrderId
    activated_at: AwareDatetime


class ActivationFailed(WireModel):
    """The paid order's service could not be activated: its amount becomes credit (R1)."""

    order_id: OrderId
    failed_at: AwareDatetime
    reason: str | None = None


class NewOrder(WireModel):
    """The order a credit transfer should pay for."""

    order_id: OrderId
    amount: Amount
    currency: Currency
    purpose: Purpose
    service: ServiceName


class CreditRequested(WireModel):
    """A customer asks to move credit onto a new order (``transfer``) or to be refunded.

    `new_order` is required for a transfer and must be absent or null for a refund.
    What a customer can get wrong is valid here and refused by the ledger, as a
    business outcome the customer is told about (``request.rejected``): a ``documents``
    request without documents or with a blank document name, an empty `credit_ids`.

    Extension beyond SPEC §2: `credit_ids`, when given, restricts the request to those
    credits (still consumed soonest-expiring first); absent or null means all credits.
    It names at most 1,000 credits (``limits.CREDIT_IDS_MAX_COUNT``).
    """

    request_id: RequestId
    customer_id: CustomerId
    action: RequestAction
    channel: RequestChannel
    documents: list[str] = Field(default_factory=list)
    requested_at: AwareDatetime
    new_order: NewOrder | None = Field(default=None, validate_default=True)
    credit_ids: list[CreditId] | None = Field(default=None, max_length=CREDIT_IDS_MAX_COUNT)

    @field_validator("new_order")
    @classmethod
    def _new_order_matches_action(
        cls, new_order: NewOrder | None, info: ValidationInfo
    ) -> NewOrder | None:
        # `action` is declared first, so it is in `info.data` whenever it was valid.
        action = info.data.get("action")
        if action == "transfer" and new_order is None:
            raise PydanticCustomError("new_order_required", "a transfer must name its new order")
        if action == "refund" and new_order is not None:
            raise PydanticCustomError("new_order_forbidden", "a refund takes no new order")
        return new_order


class PaymentReceivedEvent(CloudEvent[PaymentReceived]):
    """Envelope of `payment.received`."""

    type: Literal["payment.received"]


class ActivationCompletedEvent(CloudEvent[ActivationCompleted]):
    """Envelope of `activation.completed`."""

    type: Literal["activation.completed"]


class ActivationFailedEvent(CloudEvent[ActivationFailed]):
    """Envelope of `activation.failed`."""

    type: Literal["activation.failed"]


class CreditRequestedEvent(CloudEvent[CreditRequested]):
    """Envelope of `credit.requested`."""

    type: Literal["credit.requested"]


InboundEvent = Annotated[
    PaymentReceivedEvent | ActivationCompletedEvent | ActivationFailedEvent | CreditRequestedEvent,
    Field(discriminator="type"),
]
"""Any inbound event, told apart by its CloudEvents `type`."""

INBOUND_TYPES: Final = (
    "payment.received",
    "activation.completed",
    "activation.failed",
    "credit.requested",
)

_INBOUND: Final[TypeAdapter[InboundEvent]] = TypeAdapter(InboundEvent)


def decode_body(body: bytes | str) -> dict[str, Any]:
    """The top-level JSON object of ``body``, read exactly as `parse_inbound` reads it
    (nesting bounded, any decoder failure refused), without validating it.

    Raises `InvalidEvent` (``bad_json``, ``not_an_object``).
    """
    return load_object(body)[1]


def parse_inbound(
    body: bytes | str | Mapping[str, Any], *, currency: str = DEFAULT_CURRENCY
) -> InboundEvent:
    """Validate one inbound event; `currency` is the only currency amounts may be in.

    Raises `InvalidEvent`, whose `event_id` and `event_type` are set whenever the body
    had them as strings, even if everything else about it is wrong.
    """
    text, decoded = load_object(body)
    event_type = header(decoded, "type")
    if "type" not in decoded:
        raise InvalidEvent(
            "bad_schema", "type: required field is missing", event_id=header(decoded, "id")
        )
    if event_type not in INBOUND_TYPES:
        raise InvalidEvent(
            "unknown_type",
            f"type: {decoded['type']!r} is not one of {', '.join(INBOUND_TYPES)}",
            event_id=header(decoded, "id"),
            event_type=event_type,
        )
    try:
        return _INBOUND.validate_json(text, context={"currency": currency})
    except ValidationError as error:
        raise rejection(error, decoded, tag=event_type) from error
