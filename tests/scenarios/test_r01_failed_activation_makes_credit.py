"""R1: when the activation of a paid order fails, the whole amount paid becomes credit
of the account that paid it, at most once per order, whatever the number of failure
events, redeliveries or sweeps."""

from scenarios.kit import (
    CUSTOMER,
    OTHER_CUSTOMER,
    Books,
    activate,
    fail,
    pay,
    rome,
)

from ledger.books import Account
from ledger.service import Recorded

PAID = rome(2026, 1, 10, 9, 30)
FAILED = rome(2026, 1, 11, 15)


def test_failed_activation_turns_the_whole_payment_into_credit(ledger: Books) -> None:
    """credit.granted says who, how much, from which order and until when."""
    assert ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID)) == [Recorded.APPLIED]
    assert ledger.record(fail("MI0001", FAILED)) == [Recorded.APPLIED]

    assert ledger.only("credit.granted") == {
        "customer_id": CUSTOMER,
        "credit_id": "CR-MI0001",
        "origin": "activation_failed",
        "source_order_id": "MI0001",
        "amount": "100.00",
        "expires_at": "2027-01-10T09:30:00+01:00",
        "refundable": False,
    }
    assert ledger.available(CUSTOMER, FAILED) == 10000
    assert ledger.account(CUSTOMER, Account.CREDIT_AVAILABLE) == 10000
    assert ledger.account(CUSTOMER, Account.ORDER_PREPAYMENTS) == 0


def test_credit_belongs_to_the_account_that_paid(ledger: Books) -> None:
    """Another customer gains nothing from someone else's failed order."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", FAILED))

    assert ledger.available(CUSTOMER, FAILED) == 10000
    assert ledger.available(OTHER_CUSTOMER, FAILED) == 0


def test_a_paid_order_awaiting_activation_is_not_credit(ledger: Books) -> None:
    """Until activation fails, the payment is a prepayment, not credit."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID))

    assert ledger.available(CUSTOMER, FAILED) == 0
    assert ledger.account(CUSTOMER, Account.ORDER_PREPAYMENTS) == 10000
    assert ledger.data("credit.granted") == []


def test_a_redelivered_failure_makes_no_second_credit(ledger: Books) -> None:
    """The same event id twice: the second delivery is a duplicate and changes nothing."""
    failure = fail("MI0001", FAILED)
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), failure)

    assert ledger.record(failure) == [Recorded.DUPLICATE]
    assert len(ledger.data("credit.granted")) == 1
    assert ledger.available(CUSTOMER, FAILED) == 10000


def test_a_second_failure_event_for_the_same_order_makes_no_second_credit(ledger: Books) -> None:
    """Another failure report (new event id) for an order that already failed is a no-op."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", FAILED))

    assert ledger.record(fail("MI0001", rome(2026, 1, 12))) == [Recorded.APPLIED]
    assert len(ledger.data("credit.granted")) == 1
    assert ledger.credit("CR-MI0001")["granted"] == 10000


def test_a_redelivered_payment_is_not_paid_twice(ledger: Books) -> None:
    """The payment event delivered again books no second payment and no second credit."""
    payment = pay("MI0001", CUSTOMER, "100.00", PAID)
    ledger.record(payment, fail("MI0001", FAILED))

    assert ledger.record(payment) == [Recorded.DUPLICATE]
    assert ledger.account(CUSTOMER, Account.CASH) == 10000
    assert ledger.available(CUSTOMER, FAILED) == 10000


def test_a_second_payment_for_a_paid_order_is_kept_and_reported(ledger: Books) -> None:
    """Another payment event for an order already paid makes no second credit, but its
    money is booked in unmatched payments and ops are told: nothing is lost."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID, id="pay-1"))

    outcome = ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID, id="pay-2"))
    ledger.record(fail("MI0001", FAILED))

    assert outcome == [Recorded.REFUSED]
    assert ledger.account(CUSTOMER, Account.CASH) == 20000
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 10000
    assert ledger.available(CUSTOMER, FAILED) == 10000
    reported = ledger.only("event.rejected")
    assert (reported["event_id"], reported["reason"]) == ("pay-2", "order_already_paid")


def test_sweeps_never_make_a_second_credit(ledger: Books) -> None:
    """Every sweep, run again and again over the whole validity, leaves one credit."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", FAILED))

    for as_of in (rome(2026, 1, 12), rome(2026, 6, 1), rome(2026, 6, 1), rome(2026, 12, 20)):
        ledger.sweep("all", as_of)

    assert len(ledger.data("credit.granted")) == 1
    assert ledger.credit("CR-MI0001")["granted"] == 10000


def test_a_failure_that_arrives_before_its_payment_is_parked_then_applied(ledger: Books) -> None:
    """Out of order: the failure waits for the payment and then makes the credit."""
    assert ledger.record(fail("MI0001", FAILED)) == [Recorded.PARKED]
    assert ledger.data("credit.granted") == []

    assert ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID)) == [Recorded.APPLIED]

    granted = ledger.only("credit.granted")
    assert granted["amount"] == "100.00"
    assert granted["expires_at"] == "2027-01-10T09:30:00+01:00"
    assert ledger.available(CUSTOMER, FAILED) == 10000


def test_a_parked_failure_redelivered_before_the_payment_still_counts_once(ledger: Books) -> None:
    """A parked event delivered again is a duplicate; the payment applies it once."""
    failure = fail("MI0001", FAILED)
    ledger.record(failure)

    assert ledger.record(failure) == [Recorded.DUPLICATE]
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID))

    assert len(ledger.data("credit.granted")) == 1
    assert ledger.available(CUSTOMER, FAILED) == 10000


def test_parked_events_are_applied_in_business_time_order(ledger: Books) -> None:
    """Activation at 10:00 then failure at 11:00, both before the payment arrives: the
    order is active, the later failure is refused, and there is no credit."""
    ledger.record(fail("MI0001", rome(2026, 1, 10, 11)), activate("MI0001", rome(2026, 1, 10, 10)))

    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID))

    assert ledger.data("credit.granted") == []
    assert ledger.only("event.rejected")["reason"] == "already_activated"
    assert ledger.account(CUSTOMER, Account.REVENUE) == 10000


def test_a_failure_after_activation_is_refused_and_reported(ledger: Books) -> None:
    """An activated service does not become credit: ops hear of the odd failure."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), activate("MI0001", rome(2026, 1, 10)))
    failure = fail("MI0001", FAILED)

    assert ledger.record(failure) == [Recorded.REFUSED]

    rejected = ledger.only("event.rejected")
    assert rejected["event_id"] == failure.id
    assert rejected["event_type"] == "activation.failed"
    assert rejected["reason"] == "already_activated"
    assert ledger.available(CUSTOMER, FAILED) == 0


def test_an_activation_after_the_failure_is_refused(ledger: Books) -> None:
    """Once the payment became credit, the order can no longer be activated."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", FAILED))

    assert ledger.record(activate("MI0001", rome(2026, 1, 12))) == [Recorded.REFUSED]

    assert ledger.only("event.rejected")["reason"] == "activation_already_failed"
    assert ledger.account(CUSTOMER, Account.REVENUE) == 0
    assert ledger.available(CUSTOMER, FAILED) == 10000


def test_credit_is_granted_at_the_failure_and_counted_from_the_payment(ledger: Books) -> None:
    """The credit exists from failed_at; its twelve months run from paid_at (R2)."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 3, 1)))

    assert ledger.available(CUSTOMER, rome(2026, 3, 1)) == 10000
    assert ledger.credit("CR-MI0001")["expires_at"] == rome(2027, 1, 10, 9, 30)
    granted = [entry for entry in ledger.journal() if entry[0] == "credit_granted"]
    assert [entry[2] for entry in granted] == [rome(2026, 3, 1)]
