"""Money in the books: integer cents, converted at the edges.

The wire carries decimal strings ("49.90"); the database and every rule work in
integer cents so that sums are exact and a check constraint can compare them.
Conversions are exact at any size: a total over many credits may have more digits
than Python's default decimal context keeps (28).
"""

from decimal import Decimal

from messages.amounts import EXACT

__all__ = ["CENT", "cents_to_decimal", "decimal_to_cents"]

CENT = Decimal("0.01")


def decimal_to_cents(amount: Decimal) -> int:
    """Cents of an amount that has at most two decimals (validated on the wire)."""
    cents = amount.scaleb(2, context=EXACT)
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(cents)


def cents_to_decimal(cents: int) -> Decimal:
    """The decimal amount of ``cents``, always with two places."""
    return Decimal(cents).scaleb(-2, context=EXACT)
