"""An order's lifecycle, written down once: its states, and what each arrival does in each.

An order number is paid one of two ways: by card (a ``payment.received`` of its price,
an ``orders`` row) or with credit (a transfer, R6, a ``transfers`` row). Either way it
then lives through the same states, and every event that names it is judged by the one
table below, ``LIFECYCLE``, never by a status check of its own. The README's
"Order lifecycle" table is this table (a test keeps the two equal).

Pure: no database, no clock. ``ledger.orders`` reads an order into an ``OrderView`` and
applies the transition this module names.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "LIFECYCLE",
    "Arrival",
    "Funding",
    "OrderState",
    "Step",
    "Transition",
    "order_state",
    "refusal_message",
    "transition",
]


class OrderState(StrEnum):
    """Where an order number stands."""

    NEW = "new"
    """Neither paid nor funded: a payment or a transfer may take it. A hold that lapsed
    unpaid funded nothing, so its order is new again."""
    AWAITING_TOPUP = "awaiting_topup"
    """Credit is held for it and the difference is due (R6)."""
    AWAITING_ACTIVATION = "awaiting_activation"
    """Paid in full, by card or with credit; not yet live."""
    ACTIVE = "active"
    """Live: it will never yield credit."""
    FAILED = "failed"
    """Its activation failed: what paid it is the customer's credit again (R1)."""
    CANCELLED = "cancelled"
    """A SPID order not activated within its deadline (R5): its payment became credit."""


class Funding(StrEnum):
    """How an order was paid."""

    CARD = "card"
    CREDIT = "credit"


class Arrival(StrEnum):
    """What can happen to an order number."""

    PAYMENT = "payment.received"
    """Its price paid (any method; a top-up reference is R8's, not this)."""
    TRANSFER = "credit transfer"
    """A credit request moving credit onto it (R6)."""
    ACTIVATION_COMPLETED = "activation.completed"
    ACTIVATION_FAILED = "activation.failed"


class Step(StrEnum):
    """What an arrival does."""

    ADVANCE = "advance"
    """Applied: the order moves to ``Transition.to``."""
    PARK = "park"
    """Kept in the inbox and applied, in business-time order, once the order is paid."""
    IGNORE = "ignore"
    """Already so (a repeated outcome): applied, nothing changes."""
    REFUSE = "refuse"
    """Nothing changes; refused with ``Transition.reason``."""
    KEEP_FOR_OPS = "keep_for_ops"
    """A second payment: money kept in unmatched payments and reported with the reason."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One cell of the lifecycle: the step, and the state reached or the reason given
    (``credit_reason`` instead, when it differs for an order paid with credit)."""

    step: Step
    to: OrderState | None = None
    reason: str | None = None
    credit_reason: str | None = None

    def reason_for(self, funding: Funding | None) -> str:
        """The reason given to an order paid by ``funding``; ``ValueError`` for a step
        that gives none."""
        reason = self.credit_reason if funding is Funding.CREDIT and self.credit_reason else None
        reason = reason or self.reason
        if reason is None:
            raise ValueError(f"a {self.step} step gives no reason")
        return reason


def _advance(to: OrderState) -> Transition:
    return Transition(Step.ADVANCE, to=to)


def _refuse(reason: str, *, if_credit: str | None = None) -> Transition:
    return Transition(Step.REFUSE, reason=reason, credit_reason=if_credit)


_PARK: Final = Transition(Step.PARK)
_IGNORE: Final = Transition(Step.IGNORE)
_PAID_TWICE: Final = Transition(
    Step.KEEP_FOR_OPS, reason="order_already_paid", credit_reason="order_funded_with_credit"
)

_S = OrderState
_A = Arrival

LIFECYCLE: Final[Mapping[tuple[OrderState, Arrival], Transition]] = {
    # A payment or a transfer takes a new order number; any second one is refused, so
    # an order is paid once. Credit never pays an order that cannot be delivered.
    (_S.NEW, _A.PAYMENT): _advance(_S.AWAITING_ACTIVATION),
    (_S.NEW, _A.TRANSFER): _advance(_S.AWAITING_ACTIVATION),  # or AWAITING_TOPUP if short
    (_S.NEW, _A.ACTIVATION_COMPLETED): _PARK,
    (_S.NEW, _A.ACTIVATION_FAILED): _PARK,
    (_S.AWAITING_TOPUP, _A.PAYMENT): _PAID_TWICE,
    (_S.AWAITING_TOPUP, _A.TRANSFER): _refuse("already_funded"),
    # Not live before it is paid in full: the activation waits for the top-up.
    (_S.AWAITING_TOPUP, _A.ACTIVATION_COMPLETED): _PARK,
    # The order will not be delivered: the hold is released there and then.
    (_S.AWAITING_TOPUP, _A.ACTIVATION_FAILED): _advance(_S.FAILED),
    (_S.AWAITING_ACTIVATION, _A.PAYMENT): _PAID_TWICE,
    (_S.AWAITING_ACTIVATION, _A.TRANSFER): _refuse("already_funded"),
    (_S.AWAITING_ACTIVATION, _A.ACTIVATION_COMPLETED): _advance(_S.ACTIVE),
    (_S.AWAITING_ACTIVATION, _A.ACTIVATION_FAILED): _advance(_S.FAILED),
    (_S.ACTIVE, _A.PAYMENT): _PAID_TWICE,
    (_S.ACTIVE, _A.TRANSFER): _refuse("already_funded"),
    (_S.ACTIVE, _A.ACTIVATION_COMPLETED): _IGNORE,
    (_S.ACTIVE, _A.ACTIVATION_FAILED): _refuse("already_activated"),
    (_S.FAILED, _A.PAYMENT): _PAID_TWICE,
    # Its payment is already credit (R1, R3): the customer places a new order instead.
    (_S.FAILED, _A.TRANSFER): _refuse("same_order", if_credit="order_failed"),
    (_S.FAILED, _A.ACTIVATION_COMPLETED): _refuse("activation_already_failed"),
    (_S.FAILED, _A.ACTIVATION_FAILED): _IGNORE,
    (_S.CANCELLED, _A.PAYMENT): _PAID_TWICE,
    (_S.CANCELLED, _A.TRANSFER): _refuse("order_cancelled"),  # R5: never to be activated
    (_S.CANCELLED, _A.ACTIVATION_COMPLETED): _refuse("order_cancelled"),
    (_S.CANCELLED, _A.ACTIVATION_FAILED): _refuse("order_cancelled"),
}
"""Every (state, arrival) pair: complete, checked at import."""

assert set(LIFECYCLE) == {(state, arrival) for state in OrderState for arrival in Arrival}

_REFUSAL_MESSAGES: Final[Mapping[str, str]] = {
    "already_funded": "Order {order_id} has already been paid.",
    "same_order": (
        "Credit cannot pay order {order_id}: its activation failed and what was paid for "
        "it is already credit. Place a new order to use it."
    ),
    "order_failed": (
        "Order {order_id} could not be activated and the credit that paid it was given "
        "back: place a new order to use it."
    ),
    "order_cancelled": (
        "Order {order_id} was cancelled because it was not activated in time: it can no "
        "longer be activated."
    ),
    "already_activated": "Order {order_id} was activated; a failure now is ignored.",
    "activation_already_failed": (
        "Order {order_id} failed activation earlier and what paid it became credit."
    ),
}


def transition(state: OrderState, arrival: Arrival) -> Transition:
    """The lifecycle cell for ``arrival`` at an order in ``state``."""
    return LIFECYCLE[(state, arrival)]


def refusal_message(reason: str, order_id: str) -> str:
    """The sentence explaining a lifecycle refusal ``reason`` about ``order_id``.

    Raises ``KeyError`` for a reason the lifecycle never gives."""
    return _REFUSAL_MESSAGES[reason].format(order_id=order_id)


def order_state(
    *,
    card_status: str | None,
    transfer_status: str | None,
    activated: bool,
    failed: bool,
) -> OrderState:
    """An order's state from what the store keeps of it.

    ``card_status`` is its ``orders`` status when paid by card (None otherwise);
    ``transfer_status`` the status of the transfer funding it with credit (None if
    there is none, or only holds that lapsed unpaid), with that transfer's
    ``activated`` and ``failed`` marks.
    """
    if card_status is not None:
        return OrderState(card_status)
    if transfer_status is None:
        return OrderState.NEW
    if failed:
        return OrderState.FAILED
    if transfer_status == "awaiting_topup":
        return OrderState.AWAITING_TOPUP
    return OrderState.ACTIVE if activated else OrderState.AWAITING_ACTIVATION
