"""What an operator books by hand (``residuo adjust``): a correction with a reason.

An event later than the allowed lateness is judged against the settled books and ops
are told what it would have changed (``event.late``); they correct by hand. An
adjustment has the shape of an event, an id, a type, a business ``time`` and ``data``,
because it is kept and applied like one: at its business time, and again in its turn
whenever its customer's books are derived again (``ledger.corrections``).

======================  =========================================================
type                    data
======================  =========================================================
``adjustment.reinstate``  ``credit_id``, ``amount`` (forfeited credit made usable
                          again), optional ``until`` (a new expiry)
``adjustment.extend``     ``credit_id``, ``until`` (a later expiry)
``adjustment.void``       ``credit_id``, ``amount`` (usable credit taken back)
``adjustment.goodwill``   ``amount``, ``until`` (a new credit for the customer)
======================  =========================================================

Every one names its ``customer_id``, the ``operator`` and the ``reason``.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import AwareDatetime, model_validator

from messages._fields import CreditId, CustomerId, EventId, Operator, Text, WireModel
from messages.amounts import Amount
from messages.inbound import InboundEvent

__all__ = ["ADJUSTMENT_TYPES", "Adjustment", "AdjustmentData", "AdjustmentType", "BookedEvent"]

AdjustmentType = Literal[
    "adjustment.reinstate", "adjustment.extend", "adjustment.void", "adjustment.goodwill"
]
ADJUSTMENT_TYPES: tuple[AdjustmentType, ...] = (
    "adjustment.reinstate",
    "adjustment.extend",
    "adjustment.void",
    "adjustment.goodwill",
)

# What each kind needs, beyond the customer, the operator and the reason.
_NEEDS: dict[str, tuple[str, ...]] = {
    "adjustment.reinstate": ("credit_id", "amount"),
    "adjustment.extend": ("credit_id", "until"),
    "adjustment.void": ("credit_id", "amount"),
    "adjustment.goodwill": ("amount", "until"),
}


class AdjustmentData(WireModel):
    """What the operator asks for; which fields a type needs is in the module doc."""

    customer_id: CustomerId
    credit_id: CreditId | None = None
    amount: Amount | None = None
    until: AwareDatetime | None = None
    operator: Operator
    reason: Text


class Adjustment(WireModel):
    """An operator's correction, kept and applied like an event."""

    id: EventId
    type: AdjustmentType
    time: AwareDatetime
    data: AdjustmentData

    @model_validator(mode="after")
    def _has_what_its_type_needs(self) -> Self:
        missing = [name for name in _NEEDS[self.type] if getattr(self.data, name) is None]
        if missing:
            raise ValueError(f"{self.type} needs {', '.join(missing)}")
        if self.type == "adjustment.goodwill" and self.data.credit_id is not None:
            raise ValueError("a goodwill credit is new: it names no credit_id")
        return self


BookedEvent = InboundEvent | Adjustment
"""What the ledger keeps in its inbox and applies: an event from upstream, or an
operator's adjustment."""
