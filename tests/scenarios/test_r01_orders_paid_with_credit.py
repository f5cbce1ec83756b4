"""R1 for an order paid with credit (R6): upstream reports its activation like any
other's. Its going live is recorded and books nothing; its failure gives back what paid
it, once: the credit to the credits it came from (each keeping its own expiry, what is
past it forfeited at once), the top-ups to unmatched payments for ops to return."""

from datetime import timedelta

from scenarios.kit import CUSTOMER, Books, activate, fail, pay, rome, topup, transfer

from ledger.books import Account
from ledger.service import Recorded

ASKED = rome(2026, 6, 1)
FAILED = rome(2026, 6, 3)


def with_credit(ledger: Books, amount: str = "100.00") -> None:
    """CR-MI0001 of `amount`, usable until 10 January 2027."""
    ledger.record(pay("MI0001", CUSTOMER, amount, rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))


def test_an_order_paid_with_credit_goes_live_without_waiting(ledger: Books) -> None:
    """Its activation.completed is applied, not parked for a payment that never comes."""
    with_credit(ledger)
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", ASKED))

    assert ledger.record(activate("MI0100", ASKED + timedelta(hours=2))) == [Recorded.APPLIED]

    assert ledger.credit("CR-MI0001")["used"] == 4000
    assert ledger.account(CUSTOMER, Account.REVENUE) == 0


def test_a_failed_order_paid_with_credit_gives_the_credit_back(ledger: Books) -> None:
    """The 40.00 it took is available again on CR-MI0001, with its own expiry."""
    with_credit(ledger)
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", ASKED))

    assert ledger.record(fail("MI0100", FAILED)) == [Recorded.APPLIED]

    assert ledger.only("credit.restored") == {
        "customer_id": CUSTOMER,
        "order_id": "MI0100",
        "restored": "40.00",
        "forfeited": "0.00",
        "from_credits": [{"credit_id": "CR-MI0001", "amount": "40.00"}],
    }
    assert ledger.credit("CR-MI0001")["available"] == 10000
    assert ledger.credit("CR-MI0001")["used"] == 0
    assert ledger.account(CUSTOMER, Account.CREDIT_APPLIED) == 0
    assert ledger.data("credit.granted")[-1]["credit_id"] == "CR-MI0001"


def test_the_failure_gives_back_once_whatever_the_events(ledger: Books) -> None:
    """A second failure event under another id changes nothing; a late activation is
    refused and reported."""
    with_credit(ledger)
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", ASKED))
    ledger.record(fail("MI0100", FAILED, id="evt-fail-1"))

    outcomes = ledger.record(
        fail("MI0100", FAILED, id="evt-fail-2"), activate("MI0100", FAILED + timedelta(days=1))
    )

    assert outcomes == [Recorded.APPLIED, Recorded.REFUSED]
    assert len(ledger.data("credit.restored")) == 1
    assert ledger.only("event.rejected")["reason"] == "activation_already_failed"
    assert ledger.credit("CR-MI0001")["available"] == 10000


def test_a_failure_after_the_order_went_live_is_refused(ledger: Books) -> None:
    """Activated first: a failure now is ignored and reported, the credit stays used."""
    with_credit(ledger)
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", ASKED))
    ledger.record(activate("MI0100", ASKED + timedelta(hours=2)))

    assert ledger.record(fail("MI0100", FAILED)) == [Recorded.REFUSED]

    assert ledger.only("event.rejected")["reason"] == "already_activated"
    assert ledger.credit("CR-MI0001")["used"] == 4000


def test_a_failed_order_funded_with_a_topup_returns_the_topup_to_ops(ledger: Books) -> None:
    """100.00 of credit and a 50.00 top-up paid order MI0100: the credit comes back and
    the 50.00 waits in unmatched payments, ops told why."""
    with_credit(ledger)
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))
    payment = topup("MI0100", CUSTOMER, "50.00", ASKED + timedelta(days=1))
    ledger.record(payment)

    ledger.record(fail("MI0100", FAILED))

    assert ledger.only("credit.restored")["restored"] == "100.00"
    unmatched = ledger.only("payment.unmatched")
    assert (unmatched["reason"], unmatched["amount"], unmatched["event_id"]) == (
        "activation_failed",
        "50.00",
        payment.id,
    )
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 5000
    assert ledger.account(CUSTOMER, Account.TOPUPS_RECEIVED) == 0
    assert ledger.credit("CR-MI0001")["available"] == 10000


def test_a_failure_while_the_topup_is_awaited_releases_the_hold_then(ledger: Books) -> None:
    """Nothing more is due for an order that failed: the hold is released at the failure,
    not at its due date, and the daily sweep finds nothing left to release."""
    with_credit(ledger)
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    ledger.record(fail("MI0100", FAILED))
    ledger.sweep("holds", rome(2026, 7, 2))

    assert ledger.only("hold.released")["released"] == "100.00"
    assert ledger.credit("CR-MI0001")["available"] == 10000
    assert ledger.available(CUSTOMER, FAILED) == 10000


def test_credit_given_back_after_its_expiry_is_forfeited_at_once(ledger: Books) -> None:
    """Paid with credit expiring 10 January 2027, failed on the 20th: the credit comes
    back already expired, so it is forfeited there and then."""
    with_credit(ledger)
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", rome(2027, 1, 5)))
    ledger.sweep("expiry", rome(2027, 1, 11))

    ledger.record(fail("MI0100", rome(2027, 1, 20)))

    restored = ledger.only("credit.restored")
    assert (restored["restored"], restored["forfeited"]) == ("40.00", "40.00")
    assert ledger.credit("CR-MI0001")["forfeited"] == 10000
    assert ledger.available(CUSTOMER, rome(2027, 1, 20)) == 0


def test_an_activation_reported_before_the_transfer_waits_for_it(ledger: Books) -> None:
    """Out of order: the failure of MI0100 arrives before the request that pays it; it
    is parked, then applied when the transfer funds the order."""
    with_credit(ledger)

    assert ledger.record(fail("MI0100", FAILED)) == [Recorded.PARKED]
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", ASKED))

    assert ledger.only("credit.restored")["restored"] == "40.00"
    assert ledger.credit("CR-MI0001")["available"] == 10000


def test_a_failure_after_the_window_lapsed_releases_the_hold_at_its_due_date(
    ledger: Books,
) -> None:
    """No sweep ran between the lapse and the failure: the hold is released when it
    lapsed, as the sweep would have released it, not later."""
    with_credit(ledger)
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    ledger.record(fail("MI0100", rome(2026, 7, 10)))

    released = [line for line in ledger.journal() if line[0] == "hold_released"]
    assert [line[2] for line in released] == [rome(2026, 7, 1)]
    assert ledger.only("hold.released")["released"] == "100.00"
