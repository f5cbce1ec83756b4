"""R8: a payment whose reference reads `integrazione <order>` (case, spacing and
punctuation tolerated) settles what is due on that order. A partial payment leaves the
rest due; an overpayment is recorded and reported to ops; a top-up for an order with
nothing due is reported to ops (payment.unmatched), never lost."""

from datetime import timedelta

import pytest
from scenarios.kit import CUSTOMER, OTHER_CUSTOMER, Books, fail, pay, rome, topup, transfer

from ledger.books import Account
from ledger.policy import Policy
from ledger.service import Recorded

ASKED = rome(2026, 6, 1)
PAID_IN = rome(2026, 6, 5)


@pytest.fixture
def on_hold(ledger: Books) -> Books:
    """100.00 of credit held for order MI0100 of 150.00: 50.00 due."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)),
        fail("MI0001", rome(2026, 1, 11)),
        transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED),
    )
    return ledger


@pytest.mark.parametrize(
    "reference",
    [
        "integrazione MI0100",
        "Integrazione MI0100",
        "INTEGRAZIONE mi0100",
        "integrazione:MI0100",
        "integrazione - MI0100",
        "  integrazione   MI0100. ",
        "Integrazione, mi0100",
    ],
)
def test_the_reference_is_read_with_tolerance(on_hold: Books, reference: str) -> None:
    """However the customer wrote it, the top-up finds its order and funds it."""
    ledger = on_hold

    ledger.record(topup("MI0100", CUSTOMER, "50.00", PAID_IN, reference=reference))

    assert ledger.only("order.funded")["order_id"] == "MI0100"
    assert ledger.data("payment.unmatched") == []


def test_a_topup_is_not_mistaken_for_an_order_payment(on_hold: Books) -> None:
    """The top-up's money pays the difference; it does not open an order of its own."""
    ledger = on_hold

    ledger.record(topup("MI0100", CUSTOMER, "50.00", PAID_IN))

    assert ledger.account(CUSTOMER, Account.ORDER_PREPAYMENTS) == 0
    assert ledger.account(CUSTOMER, Account.TOPUPS_RECEIVED) == 5000


def test_a_partial_payment_leaves_the_rest_due(on_hold: Books) -> None:
    """20.00 of 50.00: a new topup.required says 30.00 is still due; the hold stays."""
    ledger = on_hold

    ledger.record(topup("MI0100", CUSTOMER, "20.00", PAID_IN))

    reminders = ledger.data("topup.required")
    assert [each["amount_due"] for each in reminders] == ["50.00", "30.00"]
    assert reminders[-1]["due_by"] == reminders[0]["due_by"]
    assert ledger.data("order.funded") == []
    assert ledger.account(CUSTOMER, Account.CREDIT_HELD) == 10000


def test_partial_payments_add_up_to_funding(on_hold: Books) -> None:
    """20.00 then 30.00: the second completes the difference and funds the order."""
    ledger = on_hold

    ledger.record(
        topup("MI0100", CUSTOMER, "20.00", PAID_IN),
        topup("MI0100", CUSTOMER, "30.00", PAID_IN + timedelta(days=1)),
    )

    assert ledger.only("order.funded") == {
        "customer_id": CUSTOMER,
        "order_id": "MI0100",
        "applied": "100.00",
        "paid": "50.00",
    }
    assert ledger.credit("CR-MI0001")["used"] == 10000


def test_an_overpayment_funds_the_order_and_is_reported(on_hold: Books) -> None:
    """60.00 against 50.00: funded, and ops hear of the 10.00 excess, kept unmatched."""
    ledger = on_hold
    payment = topup("MI0100", CUSTOMER, "60.00", PAID_IN)

    ledger.record(payment)

    assert ledger.only("order.funded")["paid"] == "50.00"
    unmatched = ledger.only("payment.unmatched")
    assert unmatched["reason"] == "overpaid"
    assert (unmatched["amount"], unmatched["event_id"]) == ("10.00", payment.id)
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 1000
    assert ledger.account(CUSTOMER, Account.CASH) == 10000 + 6000


def test_a_topup_with_nothing_due_is_reported_and_kept(ledger: Books) -> None:
    """No hold awaits MI0999: payment.unmatched nothing_due; the money stays booked."""
    payment = topup("MI0999", CUSTOMER, "25.00", PAID_IN)

    assert ledger.record(payment) == [Recorded.APPLIED]

    unmatched = ledger.only("payment.unmatched")
    assert (unmatched["reason"], unmatched["amount"]) == ("nothing_due", "25.00")
    assert unmatched["order_id"] == "MI0999"
    assert ledger.account(CUSTOMER, Account.CASH) == 2500
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 2500


def test_a_topup_for_an_order_already_funded_is_reported(on_hold: Books) -> None:
    """Paid twice: the second payment has nothing left to settle."""
    ledger = on_hold
    ledger.record(topup("MI0100", CUSTOMER, "50.00", PAID_IN))

    ledger.record(topup("MI0100", CUSTOMER, "50.00", PAID_IN + timedelta(days=1)))

    assert ledger.only("payment.unmatched")["reason"] == "nothing_due"
    assert len(ledger.data("order.funded")) == 1
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 5000


def test_a_topup_paid_before_the_request_counts_when_the_hold_is_made(ledger: Books) -> None:
    """The customer paid the difference first; the later request is funded at once."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)),
        fail("MI0001", rome(2026, 1, 11)),
        topup("MI0100", CUSTOMER, "50.00", ASKED - timedelta(days=1)),
    )
    assert ledger.only("payment.unmatched")["reason"] == "nothing_due"

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    assert ledger.only("order.funded")["paid"] == "50.00"
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 0
    assert ledger.credit("CR-MI0001")["used"] == 10000


def test_a_redelivered_topup_counts_once(on_hold: Books) -> None:
    """The same payment event twice is paid once."""
    ledger = on_hold
    payment = topup("MI0100", CUSTOMER, "20.00", PAID_IN)

    assert ledger.record(payment, payment) == [Recorded.APPLIED, Recorded.DUPLICATE]

    assert ledger.account(CUSTOMER, Account.CASH) == 10000 + 2000
    assert [each["amount_due"] for each in ledger.data("topup.required")] == ["50.00", "30.00"]


def test_a_topup_after_the_window_releases_the_hold_and_is_reported(on_hold: Books) -> None:
    """Paid after due_by (no sweep yet): judged at its own time, the hold had lapsed;
    the credit returns and the money is kept for ops (hold_lapsed)."""
    ledger = on_hold

    ledger.record(topup("MI0100", CUSTOMER, "50.00", rome(2026, 7, 2)))

    assert ledger.data("order.funded") == []
    assert ledger.only("hold.released")["released"] == "100.00"
    unmatched = ledger.only("payment.unmatched")
    assert (unmatched["reason"], unmatched["amount"]) == ("hold_lapsed", "50.00")
    assert ledger.available(CUSTOMER, rome(2026, 7, 2)) == 10000
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 5000


def test_anyone_quoting_the_reference_may_pay_the_difference(on_hold: Books) -> None:
    """The reference names the order, not the payer: a top-up from another account funds
    it, and each account's books stay whole (the money stays on the payer's side)."""
    ledger = on_hold

    ledger.record(topup("MI0100", OTHER_CUSTOMER, "60.00", PAID_IN))

    assert ledger.only("order.funded")["customer_id"] == CUSTOMER
    assert ledger.credit("CR-MI0001")["used"] == 10000
    assert ledger.account(OTHER_CUSTOMER, Account.TOPUPS_RECEIVED) == 5000
    assert ledger.account(OTHER_CUSTOMER, Account.UNMATCHED_PAYMENTS) == 1000
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 0
    assert ledger.only("payment.unmatched")["customer_id"] == OTHER_CUSTOMER


def test_a_topup_paid_in_time_and_reported_after_the_sweep_funds_the_order(
    on_hold: Books,
) -> None:
    """Paid in time, reported after the sweep released the hold (within the allowed
    lateness): the hold is reinstated and the order funded, as in business-time order."""
    ledger = on_hold
    ledger.sweep("holds", rome(2026, 7, 2))
    payment = topup("MI0100", CUSTOMER, "50.00", rome(2026, 6, 30))

    ledger.record(payment)

    assert ledger.only("hold.reinstated")["order_id"] == "MI0100"
    assert ledger.standing("hold.released") == []
    assert ledger.only("order.funded")["paid"] == "50.00"
    assert ledger.credit("CR-MI0001")["used"] == 10000
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 0


def test_a_topup_reported_later_than_the_allowed_lateness_is_never_lost(
    on_hold: Books,
) -> None:
    """Paid in time but reported weeks after the sweep released the hold: judged against
    the books as they stand, the money is kept for ops, who hear it came too late (an
    allowed lateness of 7 days)."""
    ledger = on_hold.under(Policy(allowed_lateness_days=7))
    ledger.sweep("holds", rome(2026, 7, 20))
    payment = topup("MI0100", CUSTOMER, "50.00", rome(2026, 6, 30))

    ledger.record(payment)

    unmatched = ledger.only("payment.unmatched")
    assert (unmatched["event_id"], unmatched["amount"]) == (payment.id, "50.00")
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 5000
    assert ledger.data("order.funded") == []
    late = ledger.only("event.late")
    assert late["event_id"] == payment.id
    assert late["would_have_changed"]["voided"] == ["hold.released", "payment.unmatched"]
    assert "order.funded" in late["would_have_changed"]["told"]


def test_a_part_paid_hold_that_lapses_returns_the_payment_to_ops(on_hold: Books) -> None:
    """20.00 of 50.00 paid, then the hold lapses: the 20.00 is not swallowed by the
    released hold but kept as unmatched, and ops are told (hold_lapsed)."""
    ledger = on_hold
    payment = topup("MI0100", CUSTOMER, "20.00", PAID_IN)
    ledger.record(payment)

    ledger.sweep("holds", rome(2026, 7, 2))

    unmatched = ledger.only("payment.unmatched")
    assert (unmatched["reason"], unmatched["amount"]) == ("hold_lapsed", "20.00")
    assert unmatched["event_id"] == payment.id
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 2000
    assert ledger.account(CUSTOMER, Account.TOPUPS_RECEIVED) == 0


def test_a_new_request_counts_what_a_lapsed_hold_gave_back(on_hold: Books) -> None:
    """After the lapse, asking again for MI0100 counts the 20.00 already paid: only
    30.00 is due, and ops hear the payment is matched after all."""
    ledger = on_hold
    payment = topup("MI0100", CUSTOMER, "20.00", PAID_IN)
    ledger.record(payment)
    ledger.sweep("holds", rome(2026, 7, 2))

    ledger.record(transfer("R2", CUSTOMER, "MI0100", "150.00", rome(2026, 7, 3)))

    assert ledger.data("topup.required")[-1]["amount_due"] == "30.00"
    matched = ledger.only("payment.matched")
    assert (matched["event_id"], matched["amount"], matched["request_id"]) == (
        payment.id,
        "20.00",
        "R2",
    )
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 0


def test_an_early_overpayment_is_reported_once_matched(ledger: Books) -> None:
    """80.00 paid before a request that leaves 50.00 due: ops heard of 80.00 unmatched;
    once matched they hear 50.00 of it pays the order and 30.00 is overpaid, and the
    customer is never asked for money already paid."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)),
        fail("MI0001", rome(2026, 1, 11)),
        topup("MI0100", CUSTOMER, "80.00", ASKED - timedelta(days=1)),
        transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED),
    )

    assert [(each["reason"], each["amount"]) for each in ledger.data("payment.unmatched")] == [
        ("nothing_due", "80.00"),
        ("overpaid", "30.00"),
    ]
    assert ledger.only("payment.matched")["amount"] == "50.00"
    assert ledger.data("topup.required") == []
    assert ledger.only("order.funded")["paid"] == "50.00"
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 3000


def test_a_topup_dated_before_its_request_commits_the_hold_at_the_request(
    on_hold: Books,
) -> None:
    """Paid the day before the request, delivered after it: the hold is committed when
    it exists, at the request, so the books never show a negative hold."""
    ledger = on_hold

    ledger.record(topup("MI0100", CUSTOMER, "50.00", ASKED - timedelta(days=1)))

    assert ledger.only("order.funded")["paid"] == "50.00"
    committed = [line for line in ledger.journal() if line[0] == "hold_committed"]
    assert committed
    assert all(line[2] == ASKED for line in committed)
    day_before = ledger.balance(CUSTOMER, ASKED - timedelta(hours=12))
    assert all(credit.held >= 0 for credit in day_before.credits)
