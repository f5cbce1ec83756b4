"""Money on the wire: decimal strings with at most two decimals, never JSON numbers.

A JSON number is refused rather than converted: ``49.9`` has already been rounded to
binary by the time a JSON parser hands it over, and a publisher sending numbers is a
publisher whose totals will eventually be a cent off. Python callers (the ledger
building notifications) may pass a `Decimal`; every other Python type is refused too.

Validated values are `Decimal` quantized to cents, so ``"49.9"`` and ``"49.90"`` are
the same amount; JSON output is always a string with exactly two decimals (``"49.90"``).
Amounts are capped at `MAX_AMOUNT` so that their cents fit a 64-bit integer column.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from numbers import Real
from typing import Annotated, Final

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

__all__ = ["CENT", "MAX_AMOUNT", "Amount", "NonNegativeAmount", "format_amount"]

CENT: Final = Decimal("0.01")
MAX_AMOUNT: Final = Decimal("999999999999.99")

_DECIMAL_TEXT: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_SHAPE_HINT: Final = 'amounts are decimal strings such as "49.90"'


def format_amount(amount: Decimal) -> str:
    """The wire form of an amount: a string with exactly two decimals."""
    return f"{amount.quantize(CENT):f}"


def _shown(value: object) -> str:
    """How an offending value is quoted back: as JSON where possible."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return type(value).__name__


def _bad_amount(message: str, value: object) -> PydanticCustomError:
    return PydanticCustomError(
        "bad_amount", "{message}, got {got}", {"message": message, "got": value}
    )


def _to_decimal(value: object) -> Decimal:
    """Read a wire string or a Python `Decimal` as an exact amount in cents."""
    if isinstance(value, str):
        if _DECIMAL_TEXT.fullmatch(value) is None:
            raise _bad_amount(_SHAPE_HINT, _shown(value))
        _, _, decimals = value.partition(".")
        if len(decimals) > 2:
            raise _bad_amount("amounts are decimal strings with at most 2 decimals", value)
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise _bad_amount("amounts are finite", str(value))
        amount = value
    elif isinstance(value, Real) and not isinstance(value, bool):
        raise _bad_amount(f"{_SHAPE_HINT}, not JSON numbers", _shown(value))
    else:
        raise _bad_amount(_SHAPE_HINT, _shown(value))
    if abs(amount) > MAX_AMOUNT:
        raise _bad_amount(f"amounts are at most {MAX_AMOUNT}", str(value))
    if amount != amount.quantize(CENT):
        raise _bad_amount("amounts have at most 2 decimals", str(value))
    # `+ 0` turns a negative zero into zero, so "-0" never reaches the wire.
    return amount.quantize(CENT) + 0


def _positive(value: object) -> Decimal:
    amount = _to_decimal(value)
    if amount <= 0:
        raise _bad_amount("amounts must be greater than 0", format_amount(amount))
    return amount


def _non_negative(value: object) -> Decimal:
    amount = _to_decimal(value)
    if amount < 0:
        raise _bad_amount("amounts must not be negative", format_amount(amount))
    return amount


_AS_STRING: Final = PlainSerializer(format_amount, return_type=str, when_used="json")
_UNSIGNED_PATTERN: Final = r"^[0-9]+(\.[0-9]{1,2})?$"

Amount = Annotated[
    Decimal,
    PlainValidator(_positive),
    _AS_STRING,
    WithJsonSchema({"type": "string", "pattern": _UNSIGNED_PATTERN, "examples": ["49.90"]}),
]
"""A strictly positive amount: what a payment, an order or a credit is worth."""

NonNegativeAmount = Annotated[
    Decimal,
    PlainValidator(_non_negative),
    _AS_STRING,
    WithJsonSchema({"type": "string", "pattern": _UNSIGNED_PATTERN, "examples": ["0.00"]}),
]
"""An amount that may be zero: a remainder, a balance after use, a total by outcome."""
