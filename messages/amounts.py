"""Money on the wire: decimal strings with at most two decimals, never JSON numbers.

A JSON number is refused rather than converted: ``49.9`` has already been rounded to
binary by the time a JSON parser hands it over, and a publisher sending numbers is a
publisher whose totals will eventually be a cent off. Python callers (the ledger
building notifications) may pass a `Decimal`; every other Python type is refused too.

Validated values are `Decimal` quantized to cents, so ``"49.9"`` and ``"49.90"`` are
the same amount; JSON output is always a string with exactly two decimals (``"49.90"``).

Two kinds of amount, each positive or not:

* an **amount** (`Amount`, `NonNegativeAmount`) is what one payment, order or credit
  is worth, or a part of one: at most `MAX_AMOUNT`, so that its cents fit a 64-bit
  column many thousand times over (``ledger.store.schema`` keeps money in BigInteger
  cents, at most 9,223,372,036,854,775,807);
* a **total** (`Total`, `PositiveTotal`) adds up amounts of several credits or orders
  (what a customer has left, what a sweep forfeited, a refund of every refundable
  credit): it has no upper bound, since nothing bounds how many credits a customer or
  a sweep adds up. Totals are computed, never stored in one column.

Arithmetic is exact at any size (`EXACT`): Python's default decimal context would
round past 28 digits. Each kind's JSON Schema pattern is generated from the same
bound (`MAX_INTEGER_DIGITS`), so the published schemas and the validators agree.
"""

from __future__ import annotations

import json
import re
from decimal import MAX_PREC, Context, Decimal
from numbers import Real
from typing import Annotated, Final

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

__all__ = [
    "CENT",
    "EXACT",
    "MAX_AMOUNT",
    "MAX_INTEGER_DIGITS",
    "Amount",
    "NonNegativeAmount",
    "PositiveTotal",
    "Total",
    "format_amount",
]

CENT: Final = Decimal("0.01")

EXACT: Final = Context(prec=MAX_PREC)
"""A decimal context that never rounds an amount in cents, however many digits."""

MAX_INTEGER_DIGITS: Final = 12
"""How many digits an amount may have before its decimal point."""

MAX_AMOUNT: Final = Decimal(10) ** MAX_INTEGER_DIGITS - CENT
"""999,999,999,999.99: the largest amount of one payment, order or credit."""

_DECIMAL_TEXT: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_SHAPE_HINT: Final = 'amounts are decimal strings such as "49.90"'


def format_amount(amount: Decimal) -> str:
    """The wire form of an amount: a string with exactly two decimals."""
    return f"{amount.quantize(CENT, context=EXACT):f}"


def _pattern(*, positive: bool, integer_digits: int | None) -> str:
    """The JSON Schema ``pattern`` of the wire strings an amount type accepts.

    ``positive``: zero is refused; ``integer_digits``: at most that many significant
    digits before the point (None: any number). Leading zeros are allowed, as the
    validator allows them (``"007.50"`` is 7.50); a non-negative amount also takes
    a negative zero (``"-0.00"``), which it reads as zero.
    """
    tail = "*" if integer_digits is None else f"{{0,{integer_digits - 1}}}"
    decimals = r"(?:\.[0-9]{1,2})?"
    nonzero_integer = f"[1-9][0-9]{tail}{decimals}"
    if positive:
        # Zero before the point: some decimal must be non-zero (.05, .5, .50).
        return rf"^0*(?:{nonzero_integer}|0\.(?:0[1-9]|[1-9][0-9]?))$"
    return rf"^(?:0*(?:{nonzero_integer}|0{decimals})|-0+(?:\.0{{1,2}})?)$"


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


def _to_decimal(value: object, maximum: Decimal | None) -> Decimal:
    """Read a wire string or a Python `Decimal` as an exact amount in cents, at most
    ``maximum`` in absolute value (None: unbounded)."""
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
    if maximum is not None and abs(amount) > maximum:
        raise _bad_amount(f"amounts are at most {maximum}", str(value))
    in_cents = amount.quantize(CENT, context=EXACT)
    if amount != in_cents:
        raise _bad_amount("amounts have at most 2 decimals", str(value))
    # A negative zero is zero: "-0" never reaches the wire.
    return in_cents.copy_abs() if in_cents.is_zero() else in_cents


def _positive(maximum: Decimal | None) -> PlainValidator:
    def validate(value: object) -> Decimal:
        amount = _to_decimal(value, maximum)
        if amount <= 0:
            raise _bad_amount("amounts must be greater than 0", format_amount(amount))
        return amount

    return PlainValidator(validate)


def _non_negative(maximum: Decimal | None) -> PlainValidator:
    def validate(value: object) -> Decimal:
        amount = _to_decimal(value, maximum)
        if amount < 0:
            raise _bad_amount("amounts must not be negative", format_amount(amount))
        return amount

    return PlainValidator(validate)


_AS_STRING: Final = PlainSerializer(format_amount, return_type=str, when_used="json")


def _schema(*, positive: bool, integer_digits: int | None, example: str) -> WithJsonSchema:
    pattern = _pattern(positive=positive, integer_digits=integer_digits)
    sign = "greater than 0" if positive else "0 or more"
    bound = "" if integer_digits is None else f", at most {Decimal(10) ** integer_digits - CENT}"
    return WithJsonSchema(
        {
            "type": "string",
            "pattern": pattern,
            # Python's `$` also matches before a final newline (ECMA-262's does not):
            # validators on either engine refuse "49.90\n" as residuo does.
            "not": {"pattern": "[^-.0-9]"},
            "description": f"A decimal string with at most 2 decimals, {sign}{bound}.",
            "examples": [example],
        }
    )


Amount = Annotated[
    Decimal,
    _positive(MAX_AMOUNT),
    _AS_STRING,
    _schema(positive=True, integer_digits=MAX_INTEGER_DIGITS, example="49.90"),
]
"""A strictly positive amount, at most `MAX_AMOUNT`: what a payment, an order or a
credit is worth."""

NonNegativeAmount = Annotated[
    Decimal,
    _non_negative(MAX_AMOUNT),
    _AS_STRING,
    _schema(positive=False, integer_digits=MAX_INTEGER_DIGITS, example="0.00"),
]
"""A part of one amount, which may be zero: a remainder, what is held or still due."""

Total = Annotated[
    Decimal,
    _non_negative(None),
    _AS_STRING,
    _schema(positive=False, integer_digits=None, example="0.00"),
]
"""A sum over several credits or orders, which may be zero and has no upper bound: a
customer's credit left after a transfer, a sweep's amount by outcome."""

PositiveTotal = Annotated[
    Decimal,
    _positive(None),
    _AS_STRING,
    _schema(positive=True, integer_digits=None, example="49.90"),
]
"""A strictly positive sum over several credits, with no upper bound: a refund."""
