"""Sums of cents in SQL that never overflow, on SQLite as on PostgreSQL.

Every cents column holds the amount of one payment, order or credit, or a part of one:
at most ``messages.MAX_AMOUNT`` in cents, 99,999,999,999,999, which a BigInteger holds
92,233 times over. A sum over many rows has no such bound: 92,234 credits of the
largest amount are more than 2**63 - 1 cents. PostgreSQL's ``sum(bigint)`` is a
``numeric`` and exact at any size, but SQLite's ``sum()`` of integers raises
``integer overflow`` past 2**63 - 1, so a report or a balance would end in an error.

`summed_cents` therefore splits each value in two, its quotient and remainder by
2**32 (integer division truncates towards zero in both databases, and the remainder
takes the dividend's sign, so ``value = quotient * 2**32 + remainder`` exactly), and
sums each part: a part overflows only past two thousand million rows. `joined_cents`
puts the two sums back together in Python, whose integers are unbounded.
"""

from decimal import Decimal
from typing import Final

from sqlalchemy import ColumnElement, func

__all__ = ["joined_cents", "summed_cents"]

_SPLIT: Final = 2**32


def summed_cents(
    cents: ColumnElement[int],
) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """The two aggregates to select instead of ``sum(cents)``; `joined_cents` of the
    values they return is that sum. Both are NULL over no rows, as ``sum`` is."""
    return func.sum(cents // _SPLIT), func.sum(cents % _SPLIT)


def joined_cents(high: int | Decimal | None, low: int | Decimal | None) -> int:
    """The sum `summed_cents` split in two, in cents; 0 over no rows."""
    return int(high or 0) * _SPLIT + int(low or 0)
