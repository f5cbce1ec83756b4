"""R3: credit pays the purchase, renewal or modification of any *other* service;
applying credit to the very order that produced it is refused."""

import pytest
from scenarios.kit import CUSTOMER, Books, fail, pay, rome, transfer

PAID = rome(2026, 1, 10, 9, 30)
FAILED = rome(2026, 1, 11)
ASKED = rome(2026, 2, 1)


@pytest.fixture
def credit_from_mi0001(ledger: Books) -> Books:
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", FAILED))
    return ledger


def test_credit_cannot_pay_the_order_that_produced_it(credit_from_mi0001: Books) -> None:
    """Moving MI0001's credit back onto MI0001 is refused with same_order."""
    ledger = credit_from_mi0001

    ledger.record(transfer("R1", CUSTOMER, "MI0001", "100.00", ASKED))

    rejected = ledger.only("request.rejected")
    assert rejected["reason"] == "same_order"
    assert "MI0001" in rejected["message"]
    assert ledger.credit("CR-MI0001")["available"] == 10000
    assert ledger.data("credit.applied") == ledger.data("topup.required") == []


def test_the_same_order_is_recognised_in_any_case(credit_from_mi0001: Books) -> None:
    """Order numbers are case-insensitive: 'mi0001' is still the order that failed."""
    ledger = credit_from_mi0001

    ledger.record(transfer("R1", CUSTOMER, "mi0001", "100.00", ASKED))

    assert ledger.only("request.rejected")["reason"] == "same_order"
    assert ledger.credit("CR-MI0001")["available"] == 10000


def test_no_credit_pays_an_order_whose_payment_is_already_credit(
    credit_from_mi0001: Books,
) -> None:
    """MI0001 failed and its payment is credit: another credit cannot pay it either
    (it would pay an order that will not be delivered); a new order is placed instead."""
    ledger = credit_from_mi0001
    ledger.record(pay("MI0002", CUSTOMER, "60.00", PAID), fail("MI0002", FAILED))

    ledger.record(transfer("R1", CUSTOMER, "MI0001", "60.00", ASKED))

    assert ledger.only("request.rejected")["reason"] == "same_order"
    assert ledger.data("credit.applied") == []
    assert ledger.credit("CR-MI0001")["available"] == 10000
    assert ledger.credit("CR-MI0002")["available"] == 6000


@pytest.mark.parametrize("purpose", ["purchase", "renewal", "modification"])
def test_credit_pays_any_purpose_on_another_service(
    credit_from_mi0001: Books, purpose: str
) -> None:
    """Purchase, renewal and modification of another service are all paid by credit."""
    ledger = credit_from_mi0001

    ledger.record(
        transfer("R1", CUSTOMER, "MI0100", "40.00", ASKED, purpose=purpose, service="domain")
    )

    applied = ledger.only("credit.applied")
    assert applied["applied"] == "40.00"
    assert applied["available_after"] == "60.00"
    assert ledger.available(CUSTOMER, ASKED) == 6000
