"""A reference that means a top-up but does not parse reaches ops (R8).

Where the intent is unambiguous the top-up funds its order; a reference that says
"integrazione" but names no order for sure is kept in unmatched payments and reported
(`payment.unmatched`, `reference_unparsed`), never booked as the price of a new order.
"""

import pytest
from scenarios.kit import CUSTOMER, Books, activate, fail, pay, rome, topup, transfer
from sqlalchemy import select

from ledger.books import Account
from ledger.service import Recorded
from ledger.store import schema


def test_reference_variants_handed_case(ledger: Books) -> None:
    """K0–K9: every variant of the handed file funds its order; none makes an order."""
    ledger.replay_case("integrity/reference_variants")

    funded = sorted(each["order_id"] for each in ledger.data("order.funded"))
    assert funded == [f"K{n}" for n in range(10)]
    with ledger.engine.connect() as connection:
        orders = connection.execute(select(schema.orders.c.order_id)).scalars().all()
    assert not [order for order in orders if order.startswith("BANK")]


@pytest.fixture
def on_hold(ledger: Books) -> Books:
    """A 50.00 order MI0100 on 30.00 of credit: 20.00 due."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 2, 1)))
    return ledger


@pytest.mark.parametrize(
    "reference",
    [
        "integrazione MI 0100",
        "integrazione MI0100 MI0101",
        "integrazione",
        "Integrazione n.",
    ],
)
def test_an_unreadable_topup_reference_is_kept_for_ops(on_hold: Books, reference: str) -> None:
    """The money is kept and reported; no order is made of its `order_id`; the hold
    still waits for its top-up."""
    ledger = on_hold
    payment = pay("BANK-1", CUSTOMER, "20.00", rome(2026, 2, 2), reference=reference)

    assert ledger.record(payment) == [Recorded.APPLIED]

    reported = ledger.only("payment.unmatched")
    assert (reported["reason"], reported["amount"]) == ("reference_unparsed", "20.00")
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 2000
    assert ledger.record(activate("BANK-1", rome(2026, 2, 3))) == [Recorded.PARKED]
    assert ledger.data("order.funded") == []


@pytest.mark.parametrize(
    "reference",
    [
        "integrazione n. MI0100",
        "Pagamento integrazione mi0100 Mario Rossi",
        "integrazione MI0100.",
        "INTEGRAZ. ORDINE MI0100",
        "integrazione MI0100 del 02/02/2026",
    ],
)
def test_a_topup_reference_with_plain_intent_funds_its_order(
    on_hold: Books, reference: str
) -> None:
    """Filler words and free text around the two words still fund the order."""
    ledger = on_hold

    ledger.record(topup("MI0100", CUSTOMER, "20.00", rome(2026, 2, 2), reference=reference))

    assert ledger.only("order.funded")["order_id"] == "MI0100"
    assert ledger.data("payment.unmatched") == []
