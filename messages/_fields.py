"""Building blocks shared by inbound events and notifications.

Every wire model is strict, closed and immutable: strict so that JSON mode accepts a
timestamp only as an ISO 8601 string and a count only as a JSON integer; closed
(``extra="forbid"``) so that a misspelt field is an error rather than silently lost
data; frozen because a parsed event is a fact, not a working copy.

Each rule on a string (not blank, no control characters) is a `StringRule`: the check
the validator runs and what the published JSON Schema says (``pattern``, ``not``),
both built from the same character classes, so that the schemas and the models
cannot drift apart (``tests/unit/test_messages_string_rules.py`` holds them equal).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationInfo,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from messages import limits

DEFAULT_CURRENCY: Final = "EUR"

# Character classes, the inside of a regular expression's [...], written once for the
# validators (Python's re) and the schemas' patterns (ECMA-262): both read \xHH and
# \uHHHH alike. The patterns are single classes searched for, never anchored: Python's
# `$` also matches before a final newline, ECMA-262's does not, and some validators of
# the published schemas run on one, some on the other.

CONTROLS: Final = r"\x00-\x1f\x7f-\x9f"
"""C0 controls, DEL and C1 controls (Unicode category Cc): an escape sequence or a
newline in an id would reach terminals, logs and tables as it was sent."""

WHITESPACE: Final = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""What Python's ``str.strip()`` removes (``str.isspace``), which a blank string is
made of only."""

CONTROL_CHARACTER: Final = re.compile(f"[{CONTROLS}]")
_SOMETHING: Final = re.compile(f"[^{WHITESPACE}]")
_SOMETHING_PRINTABLE: Final = f"[^{CONTROLS}{WHITESPACE}]"


@dataclass(frozen=True, slots=True)
class StringRule:
    """A check pydantic runs on a string after its type's own (``check`` returns the
    value, perhaps made canonical, or raises `PydanticCustomError`), and what the JSON
    Schema says of the same strings: ``pattern``, a regular expression some part of
    the string must match, and ``forbidden``, one no part of it may match (``not``)."""

    check: Callable[[str], str]
    pattern: str | None = None
    forbidden: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if self.pattern is not None:
            json_schema["pattern"] = self.pattern
        if self.forbidden is not None:
            json_schema["not"] = {"pattern": self.forbidden}
        return json_schema


class WireModel(BaseModel):
    """Base of every model in `messages`."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _not_blank(value: str) -> str:
    if _SOMETHING.search(value) is None:
        raise PydanticCustomError("blank_string", "must not be blank")
    return value


def _without_controls(value: str) -> str:
    control = CONTROL_CHARACTER.search(value)
    if control is not None:
        raise PydanticCustomError(
            "control_character",
            "identifiers may not contain control characters, found {character} at {position}",
            {"character": f"U+{ord(control.group()):04X}", "position": control.start()},
        )
    return value


def _identifier(value: str) -> str:
    return _not_blank(_without_controls(value))


def _case_blind_key(max_length: int) -> Callable[[str], str]:
    # Order numbers match without regard to case (R8 tolerates `integrazione mi0001`
    # for MI0001), so they are carried in one canonical form from the boundary on:
    # compatibility-normalised (full-width digits are digits), without the spaces a
    # form lets a customer type around it, in upper case as billing prints them.
    # Every comparison, index, lock key and derived id (`CR-<order>`) downstream is
    # then a plain equality.
    def canonical(value: str) -> str:
        # Judged as sent: a newline at an end is a broken id, not one to strip.
        _without_controls(value)
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


_canonical_credit_id = _case_blind_key(limits.CREDIT_ID_MAX_LENGTH)


def _named_credit(value: str) -> str:
    # A blank credit id is the customer's mistake, refused by the ledger with a reason
    # the customer is told, not a broken event; a control character never is.
    if _SOMETHING.search(_without_controls(value)) is None:
        return value
    return _canonical_credit_id(value)


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


Text = Annotated[str, StringRule(_not_blank, pattern=_SOMETHING.pattern)]
"""Free text that must say something: a reason, a detail, a document name."""

# Identifiers: non-blank, without control characters, and each kind bounded by its
# own constant (`messages.limits`), the one its column in the books is sized from, so
# that an id too long for the books is refused here, as an invalid event, rather than
# by the database mid-transaction.
# Not blank is something printable; no control anywhere.
_NoControl = StringRule(
    _identifier, pattern=_SOMETHING_PRINTABLE, forbidden=CONTROL_CHARACTER.pattern
)

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
    StringRule(
        _case_blind_key(limits.ORDER_ID_MAX_LENGTH),
        pattern=_SOMETHING_PRINTABLE,
        forbidden=CONTROL_CHARACTER.pattern,
    ),
]
"""An order number: an identifier compared without regard to case, hence upper-cased
on the way in (``mi0001`` is ``MI0001``)."""

CreditId = Annotated[
    str,
    StringConstraints(max_length=limits.CREDIT_ID_MAX_LENGTH),
    StringRule(_named_credit, forbidden=CONTROL_CHARACTER.pattern),
]
"""A credit id, ``CR-<order number>``, as a request names it: canonical like the order
number it names; a blank one is left for the ledger to refuse."""

Currency = Annotated[str, AfterValidator(_configured_currency)]
"""An ISO 4217 code that must equal the configured currency (validation context)."""
