"""Building blocks shared by inbound events and notifications.

Every wire model is strict, closed and immutable: strict so that JSON mode accepts a
timestamp only as an ISO 8601 string and a count only as a JSON integer; closed
(``extra="forbid"``) so that a misspelt field is an error rather than silently lost
data; frozen because a parsed event is a fact, not a working copy.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo
from pydantic_core import PydanticCustomError

DEFAULT_CURRENCY: Final = "EUR"
IDENTIFIER_MAX_LENGTH: Final = 255


class WireModel(BaseModel):
    """Base of every model in `messages`."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank_string", "must not be blank")
    return value


def _identifier(value: str) -> str:
    # Identifiers are keys of indexed columns in the ledger: bounded, so that an
    # absurd id is refused here rather than by the database mid-transaction.
    if len(value) > IDENTIFIER_MAX_LENGTH:
        raise PydanticCustomError(
            "identifier_too_long",
            "identifiers are at most {max} characters, got {length}",
            {"max": IDENTIFIER_MAX_LENGTH, "length": len(value)},
        )
    return _not_blank(value)


def _case_blind_key(value: str) -> str:
    # Order numbers match without regard to case (R8 tolerates `integrazione mi0001`
    # for MI0001), so they are carried in one canonical form from the boundary on:
    # upper case, as billing prints them. Every comparison, index, lock key and
    # derived id (`CR-<order>`) downstream is then a plain equality.
    return _identifier(value.upper())


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

Identifier = Annotated[str, AfterValidator(_identifier)]
"""An opaque id chosen upstream or by the ledger: non-blank, bounded in length."""

OrderId = Annotated[str, AfterValidator(_case_blind_key)]
"""An order number: an identifier compared without regard to case, hence upper-cased
on the way in (``mi0001`` is ``MI0001``)."""

CreditId = Annotated[str, AfterValidator(_case_blind_key)]
"""A credit id, ``CR-<order number>``: canonical like the order number it names."""

Currency = Annotated[str, AfterValidator(_configured_currency)]
"""An ISO 4217 code that must equal the configured currency (validation context)."""
