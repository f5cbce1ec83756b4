"""Building blocks shared by inbound events and notifications.

Every wire model is strict, closed and immutable: strict so that JSON mode accepts a
timestamp only as an ISO 8601 string and a count only as a JSON integer; closed
(``extra="forbid"``) so that a misspelt field is an error rather than silently lost
data; frozen because a parsed event is a fact, not a working copy.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationInfo
from pydantic_core import PydanticCustomError

from messages import limits

DEFAULT_CURRENCY: Final = "EUR"

# C0 controls, DEL and C1 controls (Unicode category Cc): an escape sequence or a
# newline in an id would reach terminals, logs and tables as it was sent.
CONTROL_CHARACTER: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class WireModel(BaseModel):
    """Base of every model in `messages`."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank_string", "must not be blank")
    return value


def _identifier(value: str) -> str:
    control = CONTROL_CHARACTER.search(value)
    if control is not None:
        raise PydanticCustomError(
            "control_character",
            "identifiers may not contain control characters, found {character} at {position}",
            {"character": f"U+{ord(control.group()):04X}", "position": control.start()},
        )
    return _not_blank(value)


def _case_blind_key(max_length: int) -> Callable[[str], str]:
    # Order numbers match without regard to case (R8 tolerates `integrazione mi0001`
    # for MI0001), so they are carried in one canonical form from the boundary on:
    # compatibility-normalised (full-width digits are digits), without the spaces a
    # form lets a customer type around it, in upper case as billing prints them.
    # Every comparison, index, lock key and derived id (`CR-<order>`) downstream is
    # then a plain equality.
    def canonical(value: str) -> str:
        upper = unicodedata.normalize("NFKC", value).strip().upper()
        # A few letters grow when upper-cased (ß is SS): the bound holds for what is kept.
        if len(upper) > max_length:
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters once upper-cased",
                {"max_length": max_length},
            )
        return _identifier(upper)

    return canonical


def _named_credit(value: str) -> str:
    # A blank credit id is the customer's mistake, refused by the ledger with a reason
    # the customer is told, not a broken event.
    if not value.strip():
        return value
    return _case_blind_key(limits.CREDIT_ID_MAX_LENGTH)(value)


def _configured_currency(value: str, info: ValidationInfo) -> str:
    # The policy owns the currency, and `messages` cannot import it: the caller passes
    # it as validation context, ``model_validate(..., context={"currency": "EUR"})``.
    context = info.context if isinstance(info.context, dict) else {}
    expected = context.get("currency", DEFAULT_CURRENCY)
    if value != expected:
        raise PydanticCustomError(
            "wrong_currency",
            "only {expected} is accepted, got {got}",
            {"expected": expected, "got": value},
        )
    return value


Text = Annotated[str, AfterValidator(_not_blank)]
"""Free text that must say something: a reason, a detail, a document name."""

# Identifiers: non-blank, without control characters, and each kind bounded by its
# own constant (`messages.limits`), the one its column in the books is sized from, so
# that an id too long for the books is refused here, as an invalid event, rather than
# by the database mid-transaction.
_NoControl = AfterValidator(_identifier)

EventId = Annotated[str, StringConstraints(max_length=limits.EVENT_ID_MAX_LENGTH), _NoControl]
EventType = Annotated[str, StringConstraints(max_length=limits.EVENT_TYPE_MAX_LENGTH), _NoControl]
CustomerId = Annotated[str, StringConstraints(max_length=limits.CUSTOMER_ID_MAX_LENGTH), _NoControl]
RequestId = Annotated[str, StringConstraints(max_length=limits.REQUEST_ID_MAX_LENGTH), _NoControl]
ServiceName = Annotated[str, StringConstraints(max_length=limits.SERVICE_MAX_LENGTH), _NoControl]
Code = Annotated[str, StringConstraints(max_length=limits.CODE_MAX_LENGTH), _NoControl]
"""A short code ops count and filter on: a rejection or refusal reason."""

Operator = Annotated[str, StringConstraints(max_length=limits.OPERATOR_MAX_LENGTH), _NoControl]
"""Who booked a correction by hand (a name or a login)."""

OrderId = Annotated[
    str,
    StringConstraints(max_length=limits.ORDER_ID_MAX_LENGTH),
    AfterValidator(_case_blind_key(limits.ORDER_ID_MAX_LENGTH)),
]
"""An order number: an identifier compared without regard to case, hence upper-cased
on the way in (``mi0001`` is ``MI0001``)."""

CreditId = Annotated[
    str,
    StringConstraints(max_length=limits.CREDIT_ID_MAX_LENGTH),
    AfterValidator(_named_credit),
]
"""A credit id, ``CR-<order number>``, as a request names it: canonical like the order
number it names; a blank one is left for the ledger to refuse."""

Currency = Annotated[str, AfterValidator(_configured_currency)]
"""An ISO 4217 code that must equal the configured currency (validation context)."""
