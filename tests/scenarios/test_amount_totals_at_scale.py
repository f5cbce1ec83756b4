"""The largest sum the bounds allow is unbounded: every cents column holds at most one
payment's, order's or credit's amount (``MAX_AMOUNT``, 99,999,999,999,999 cents), but
nothing bounds how many credits a customer, a month or the books hold. From 92,234
credits of the largest amount, a total is past 2**63 - 1 cents, the largest integer a
BigInteger (and SQLite's ``sum()``) holds. The reports and the balance still add them
up exactly, on both databases, and print them in their ``--json`` documents.

The books are written with set-based ``INSERT … SELECT`` rather than by the rules
(92,234 payments and failures would take minutes): each credit granted and, at its
expiry, forfeited, as the expiry sweep writes them, two entries of two postings each.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from scenarios.kit import ROME, rome
from sqlalchemy import Engine, Integer, String, cast, literal, select, text
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import CTE

from ledger.books import Account
from ledger.money import decimal_to_cents
from ledger.policy import Policy
from ledger.queries import balance
from ledger.reports import breakage, liability
from ledger.store import schema
from messages.amounts import MAX_AMOUNT
from residuo.render import balance_document
from residuo.report_views import breakage_document, liability_document

pytestmark = pytest.mark.reliability

CUSTOMER = "1234567@aruba.it"
MAX_CENTS = decimal_to_cents(MAX_AMOUNT)
CREDITS = -(-(2**63) // MAX_CENTS)  # the fewest whose sum is past 2**63 - 1: 92,234
TOTAL = CREDITS * MAX_CENTS
GRANTED, EXPIRES = rome(2026, 1, 11), rome(2027, 1, 10)
_WHEN_AND_MEMO = ("effective_at", "recorded_at", "memo")


def _numbers() -> CTE:
    """1 … CREDITS, one row each."""
    numbers = select(literal(1, Integer).label("i")).cte("numbers", recursive=True)
    return numbers.union_all(select(numbers.c.i + 1).where(numbers.c.i < CREDITS))


def _at(instant: datetime) -> BindParameter[datetime]:
    return literal(instant, schema.journal_entries.c.effective_at.type)


def book_largest_credits_granted_and_forfeited(engine: Engine) -> None:
    """CREDITS credits of the largest amount for CUSTOMER, each granted at GRANTED and
    forfeited at EXPIRES: entry ``i`` grants credit ``i``, entry ``CREDITS + i``
    forfeits it."""
    n = _numbers()
    credit_id = literal("CR-MI") + cast(n.c.i, String)
    entries, postings = schema.journal_entries, schema.postings
    with engine.begin() as connection:
        connection.execute(
            schema.credits.insert().from_select(
                [
                    "credit_id",
                    "customer_id",
                    "origin",
                    "source_order_id",
                    "refundable",
                    "granted_at",
                    "expires_at",
                    "granted_cents",
                    "available_cents",
                    "forfeited_cents",
                ],
                select(
                    credit_id,
                    literal(CUSTOMER),
                    literal("activation_failed"),
                    literal("MI") + cast(n.c.i, String),
                    literal(False),
                    _at(GRANTED),
                    _at(EXPIRES),
                    literal(MAX_CENTS),
                    literal(0),
                    literal(MAX_CENTS),
                ),
            )
        )
        for kind, offset, when in (
            ("credit_granted", 0, GRANTED),
            ("credit_forfeited", CREDITS, EXPIRES),
        ):
            connection.execute(
                entries.insert().from_select(
                    [*("entry_id", "kind", "customer_id", "cause", "credit_id"), *_WHEN_AND_MEMO],
                    select(
                        n.c.i + offset,
                        literal(kind),
                        literal(CUSTOMER),
                        literal("at scale"),
                        credit_id,
                        _at(when),
                        _at(when),
                        literal(kind),
                    ),
                )
            )
        for offset, debit, credit in (
            (0, Account.ORDER_PREPAYMENTS, Account.CREDIT_AVAILABLE),
            (CREDITS, Account.CREDIT_AVAILABLE, Account.BREAKAGE),
        ):
            for account, cents in ((debit, MAX_CENTS), (credit, -MAX_CENTS)):
                connection.execute(
                    postings.insert().from_select(
                        ["entry_id", "account", "customer_id", "credit_id", "amount_cents"],
                        select(
                            n.c.i + offset,
                            literal(account.value),
                            literal(CUSTOMER),
                            credit_id,
                            literal(cents),
                        ),
                    )
                )
        # Statistics of a bulk load, as autovacuum would gather them a moment later:
        # planned on the emptied tables' stale ones, the reports' joins can take
        # minutes on PostgreSQL instead of seconds (seen in CI).
        connection.execute(text("ANALYZE"))


def test_reports_and_the_balance_add_up_past_a_64_bit_integer(engine: Engine) -> None:
    """92,234 credits of the largest amount: owed before their expiry, forfeited in
    January 2027; the liability, the breakage and the customer's balance are each
    92,234 × 999,999,999,999.99, and the reports reconcile with the journal."""
    book_largest_credits_granted_and_forfeited(engine)
    policy = Policy()
    before = rome(2026, 6, 1)

    owed = liability(engine, before, ROME)
    forfeited = breakage(engine, rome(2027, 1, 1), rome(2027, 2, 1))
    customer = balance(engine, CUSTOMER, before)

    assert TOTAL > 2**63 - 1
    assert (owed.available_cents, owed.journal_available_cents) == (TOTAL, TOTAL)
    assert (forfeited.total_cents, forfeited.journal_cents) == (TOTAL, TOTAL)
    assert [line.credits for line in forfeited.lines] == [CREDITS]
    assert customer.available == TOTAL
    shown = f"{TOTAL // 100}.{TOTAL % 100:02d}"  # 922339999999990776.66
    assert liability_document(owed, policy)["total"]["available"] == shown
    assert breakage_document("2027-01", forfeited, policy)["total"] == shown
    assert balance_document(customer, policy)["available"] == shown
