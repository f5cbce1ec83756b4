"""An order number is one identity: it matches without regard to case, everywhere.

Order numbers are upper-cased at the boundary (``messages.OrderId``), so payments,
activations (parked or not), transfers, top-up references, credit ids and locks all
compare one canonical form.
"""

from scenarios.kit import (
    CUSTOMER,
    OTHER_CUSTOMER,
    Books,
    activate,
    fail,
    pay,
    rome,
    topup,
    transfer,
)
from sqlalchemy import select

from ledger.books import Account
from ledger.service import Recorded
from ledger.store import schema


def test_case_twin_orders_handed_case(ledger: Books) -> None:
    """F6: `mi0001` and `MI0001` are one order: the second payment is kept for ops and
    the transfer onto it ends in a notification, not a processing failure."""
    outcomes = ledger.replay_case("integrity/F6_case_twin_orders_crash")

    assert outcomes == [Recorded.APPLIED, Recorded.REFUSED, Recorded.REFUSED]
    kept = ledger.only("event.rejected")
    assert (kept["event_id"], kept["reason"]) == ("evt-2", "order_already_paid")
    assert ledger.account(OTHER_CUSTOMER, Account.UNMATCHED_PAYMENTS) == 3000
    assert ledger.only("request.rejected")["reason"] == "already_funded"


def test_two_payments_differing_by_case_make_one_paid_order(ledger: Books) -> None:
    """`ab1` then `AB1`, same customer: one order, the second payment kept for ops."""
    ledger.record(
        pay("ab1", CUSTOMER, "20.00", rome(2026, 1, 10)),
        pay("AB1", CUSTOMER, "20.00", rome(2026, 1, 10, 11)),
    )

    with ledger.engine.connect() as connection:
        orders = connection.execute(select(schema.orders.c.order_id)).scalars().all()
    assert orders == ["AB1"]
    assert ledger.only("event.rejected")["reason"] == "order_already_paid"
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 2000


def test_a_parked_failure_in_another_case_applies_when_its_order_is_paid(ledger: Books) -> None:
    """An `activation.failed` for `Ab1` that came before the payment of `AB1` is not
    parked forever: it makes the credit when the payment lands."""
    assert ledger.record(fail("Ab1", rome(2026, 1, 11))) == [Recorded.PARKED]

    ledger.record(pay("AB1", CUSTOMER, "20.00", rome(2026, 1, 10)))

    granted = ledger.only("credit.granted")
    assert (granted["credit_id"], granted["source_order_id"]) == ("CR-AB1", "AB1")
    assert ledger.credit("CR-AB1")["available"] == 2000


def test_a_transfer_top_up_and_activation_in_three_cases_meet_on_one_order(
    ledger: Books,
) -> None:
    """Transfer onto `mi0100`, top-up quoting `Integrazione Mi0100`, activation of
    `MI0100`: one order, funded, then live."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))
    ledger.record(transfer("R1", CUSTOMER, "mi0100", "50.00", rome(2026, 2, 1)))
    ledger.record(topup("X", CUSTOMER, "20.00", rome(2026, 2, 2), reference="Integrazione Mi0100"))

    assert ledger.record(activate("MI0100", rome(2026, 2, 3))) == [Recorded.APPLIED]
    assert ledger.only("topup.required")["order_id"] == "MI0100"
    assert ledger.only("order.funded")["order_id"] == "MI0100"


def test_credit_ids_in_any_case_name_the_credit(ledger: Books) -> None:
    """`cr-mi0001` in `credit_ids` is the credit CR-MI0001."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))

    ledger.record(
        transfer("R1", CUSTOMER, "MI0100", "10.00", rome(2026, 2, 1), credit_ids=["cr-mi0001"])
    )

    applied = ledger.only("credit.applied")
    assert applied["from_credits"] == [{"credit_id": "CR-MI0001", "amount": "10.00"}]
