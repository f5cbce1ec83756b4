"""R9: refundable credit (SPID cancellations) may be refunded instead of used: the
remainder moves to refunds payable and ops is told (refund.requested). Refund of
non-refundable or expired credit is refused with a reason."""

from datetime import timedelta

import pytest
from scenarios.kit import CUSTOMER, Books, fail, pay, refund, rome, transfer

from ledger.books import Account

PAID = rome(2026, 1, 10, 9, 30)
CANCELLED = rome(2026, 4, 10, 9, 30)
ASKED = rome(2026, 5, 1)


@pytest.fixture
def spid_credit(ledger: Books) -> Books:
    """49.90 of refundable credit from a SPID order cancelled at day 90."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))
    ledger.sweep("spid_timeout", CANCELLED)
    return ledger


def test_spid_credit_is_refunded_on_request(spid_credit: Books) -> None:
    """refund.requested for the whole remainder; the money moves to refunds payable."""
    ledger = spid_credit

    ledger.record(refund("R1", CUSTOMER, ASKED))

    assert ledger.only("refund.requested") == {
        "customer_id": CUSTOMER,
        "request_id": "R1",
        "amount": "49.90",
        "from_credits": [{"credit_id": "CR-SP0001", "amount": "49.90"}],
    }
    assert ledger.account(CUSTOMER, Account.REFUNDS_PAYABLE) == 4990
    assert ledger.credit("CR-SP0001")["refunded"] == 4990
    assert ledger.available(CUSTOMER, ASKED) == 0


def test_only_the_unused_remainder_is_refunded(spid_credit: Books) -> None:
    """20.00 spent on a purchase, then a refund: 29.90 is refunded."""
    ledger = spid_credit
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "20.00", ASKED))

    ledger.record(refund("R2", CUSTOMER, ASKED + timedelta(days=1)))

    assert ledger.only("refund.requested")["amount"] == "29.90"
    credit = ledger.credit("CR-SP0001")
    assert (credit["used"], credit["refunded"], credit["available"]) == (2000, 2990, 0)


def test_activation_failed_credit_is_not_refundable(ledger: Books) -> None:
    """R1 credit is for other services only: refused with not_refundable."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 1, 11)))

    ledger.record(refund("R1", CUSTOMER, ASKED))

    rejected = ledger.only("request.rejected")
    assert (rejected["request_id"], rejected["reason"]) == ("R1", "not_refundable")
    assert ledger.data("refund.requested") == []
    assert ledger.available(CUSTOMER, ASKED) == 10000


def test_expired_spid_credit_is_not_refunded(spid_credit: Books) -> None:
    """After its expiry (even before the sweep) the refund is refused: credit_expired."""
    ledger = spid_credit

    ledger.record(refund("R1", CUSTOMER, rome(2027, 1, 10, 9, 30)))

    assert ledger.only("request.rejected")["reason"] == "credit_expired"
    assert ledger.account(CUSTOMER, Account.REFUNDS_PAYABLE) == 0


def test_a_refund_takes_only_the_refundable_credit(spid_credit: Books) -> None:
    """With both kinds of credit, the SPID credit is refunded and the R1 credit stays."""
    ledger = spid_credit
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 1, 11)))

    ledger.record(refund("R1", CUSTOMER, ASKED))

    assert ledger.only("refund.requested")["from_credits"] == [
        {"credit_id": "CR-SP0001", "amount": "49.90"}
    ]
    assert ledger.available(CUSTOMER, ASKED) == 10000


def test_a_refund_with_no_credit_is_refused(ledger: Books) -> None:
    """Nothing to refund: no_credit."""
    ledger.record(refund("R1", CUSTOMER, ASKED))

    assert ledger.only("request.rejected")["reason"] == "no_credit"


def test_refunded_credit_can_no_longer_be_used(spid_credit: Books) -> None:
    """After the refund, a transfer finds nothing left."""
    ledger = spid_credit
    ledger.record(refund("R1", CUSTOMER, ASKED))

    ledger.record(
        transfer("R2", CUSTOMER, "MI0100", "10.00", ASKED + timedelta(days=1)),
        refund("R3", CUSTOMER, ASKED + timedelta(days=1)),
    )

    assert [each["reason"] for each in ledger.data("request.rejected")] == [
        "no_credit",
        "no_credit",
    ]
    assert len(ledger.data("refund.requested")) == 1
    assert ledger.account(CUSTOMER, Account.REFUNDS_PAYABLE) == 4990


def test_held_refundable_credit_is_not_refunded(spid_credit: Books) -> None:
    """Credit held for a new order is not available to refund."""
    ledger = spid_credit
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "80.00", ASKED))

    ledger.record(refund("R2", CUSTOMER, ASKED + timedelta(days=1)))

    assert ledger.only("request.rejected")["reason"] == "credit_held"
    assert ledger.credit("CR-SP0001")["held"] == 4990
