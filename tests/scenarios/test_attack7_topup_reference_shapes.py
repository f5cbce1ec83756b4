"""Attack on issue 7, kind 5: top-up references as banks and bollettini really print them.

Each reference below plainly means "the difference on order K4" (or names two orders).
Whatever R8 decides to read, such a payment either funds K4 or reaches ops
(`payment.unmatched`, `reference_unparsed`): it is never booked as the price of a new
order named after the payment's `order_id`, nor matched against an order number made up
of the reference's filler words. These tests fail on the code of issue 7's fix.
"""

import pytest
from scenarios.kit import CUSTOMER, Books, fail, pay, rome, transfer
from sqlalchemy import select

from ledger.store import schema


@pytest.fixture
def k4_on_hold(ledger: Books) -> Books:
    """30.00 of credit held for K4 (50.00): 20.00 due by `integrazione K4`."""
    ledger.record(pay("F4", CUSTOMER, "30.00", rome(2025, 3, 1)))
    ledger.record(fail("F4", rome(2025, 3, 2)))
    ledger.record(transfer("T4", CUSTOMER, "K4", "50.00", rome(2025, 4, 1)))
    return ledger


def _bank_payment(ledger: Books, reference: str) -> None:
    """The 20.00 difference, as billing forwards a bank transfer: its own transaction id
    in `order_id`, the customer's description in `reference`."""
    ledger.record(
        pay("BANK-4", CUSTOMER, "20.00", rome(2025, 4, 2), method="bonifico", reference=reference)
    )


def _orders(ledger: Books) -> list[str]:
    with ledger.engine.connect() as connection:
        return list(connection.execute(select(schema.orders.c.order_id)).scalars())


def _funded_or_reported(ledger: Books) -> bool:
    funded = [each["order_id"] for each in ledger.data("order.funded")]
    unparsed = [
        each for each in ledger.data("payment.unmatched") if each["reason"] == "reference_unparsed"
    ]
    return funded == ["K4"] or len(unparsed) == 1


@pytest.mark.parametrize(
    "reference",
    [
        "INTEGRAZ. ORDINE K4",  # bank/bollettino truncation of "integrazione"
        "integraz. K4",
        "Integr. K4",
        "integrazioni K4",  # plural
    ],
)
def test_an_abbreviated_topup_reference_never_makes_an_order(
    k4_on_hold: Books, reference: str
) -> None:
    """Seen: order BANK-4 (20.00) booked, no notification; K4's hold then lapses."""
    ledger = k4_on_hold

    _bank_payment(ledger, reference)

    assert "BANK-4" not in _orders(ledger)
    assert _funded_or_reported(ledger)


@pytest.mark.parametrize("reference", ["integrazione-ordine-K4", "integrazione_ordine_K4"])
def test_filler_words_joined_by_punctuation_are_not_part_of_the_order_number(
    k4_on_hold: Books, reference: str
) -> None:
    """Seen: matched against an order "ORDINE-K4" (`nothing_due`), K4 left unpaid."""
    ledger = k4_on_hold

    _bank_payment(ledger, reference)

    assert not [each for each in ledger.data("payment.unmatched") if "ORDINE" in each["order_id"]]
    assert _funded_or_reported(ledger)


def test_a_reference_naming_two_orders_is_unparsed_not_an_order_k4_slash_k5(
    k4_on_hold: Books,
) -> None:
    """`integrazione K4/K5` names two orders (README: reported `reference_unparsed`).
    Seen: matched against an order "K4/K5" and reported `nothing_due`."""
    ledger = k4_on_hold

    _bank_payment(ledger, "integrazione K4/K5")

    assert [each["reason"] for each in ledger.data("payment.unmatched")] == ["reference_unparsed"]
