"""R6: the account holder moves credit onto a new order. Credit is consumed
soonest-expiring first (ties oldest first), across several credits, and what is left
keeps its own expiry. Enough credit covers the order (credit.applied); too little is
held and the difference is due by bollettino or bonifico quoting
`integrazione <order>` (topup.required), committed when paid (order.funded) or
released when the hold window lapses, forfeiting released credit already expired. A
held credit does not expire. Only the owner may ask; an order is never funded twice;
no credit is refused with a reason."""

from datetime import datetime, timedelta

import pytest
from scenarios.kit import (
    CUSTOMER,
    OTHER_CUSTOMER,
    Books,
    fail,
    pay,
    rome,
    topup,
    transfer,
)

from ledger.books import Account
from ledger.service import Recorded

ASKED = rome(2026, 6, 1, 10)
DUE_BY = rome(2026, 7, 1, 10)


def grant(ledger: Books, order: str, amount: str, paid_at: datetime, failed_at: datetime) -> None:
    """Credit of `amount` for CUSTOMER: order paid at `paid_at`, failed at `failed_at`."""
    ledger.record(pay(order, CUSTOMER, amount, paid_at), fail(order, failed_at))


def test_enough_credit_covers_the_new_order(ledger: Books) -> None:
    """credit.applied names the order, the amount, the credits used and what is left."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "70.00", ASKED))

    assert ledger.only("credit.applied") == {
        "customer_id": CUSTOMER,
        "request_id": "R1",
        "order_id": "MI0100",
        "applied": "70.00",
        "from_credits": [{"credit_id": "CR-MI0001", "amount": "70.00"}],
        "available_after": "30.00",
    }
    assert ledger.available(CUSTOMER, ASKED) == 3000
    assert ledger.account(CUSTOMER, Account.CREDIT_APPLIED) == 7000


def test_credit_equal_to_the_order_covers_it_exactly(ledger: Books) -> None:
    """credit == order amount is covered (≥), nothing held, nothing due."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "100.00", ASKED))

    assert ledger.only("credit.applied")["available_after"] == "0.00"
    assert ledger.data("topup.required") == []


def test_soonest_expiring_credit_is_consumed_first_across_several(ledger: Books) -> None:
    """Three credits; 120.00 takes all of the soonest and part of the next; the latest
    is untouched, and the partly used one keeps its own expiry."""
    grant(ledger, "MI0003", "100.00", rome(2026, 5, 1), rome(2026, 5, 2))  # expires last
    grant(ledger, "MI0001", "50.00", rome(2026, 1, 10), rome(2026, 1, 11))  # expires first
    grant(ledger, "MI0002", "100.00", rome(2026, 3, 1), rome(2026, 3, 2))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "120.00", ASKED))

    assert ledger.only("credit.applied")["from_credits"] == [
        {"credit_id": "CR-MI0001", "amount": "50.00"},
        {"credit_id": "CR-MI0002", "amount": "70.00"},
    ]
    remainder = ledger.credit("CR-MI0002")
    assert (remainder["available"], remainder["expires_at"]) == (3000, rome(2027, 3, 1))
    assert ledger.credit("CR-MI0003")["available"] == 10000
    ledger.sweep("expiry", rome(2027, 3, 1))
    assert ledger.only("credit.expired") == {
        "customer_id": CUSTOMER,
        "credit_id": "CR-MI0002",
        "forfeited": "30.00",
        "expired_at": "2027-03-01T10:00:00+01:00",
    }


def test_ties_on_expiry_spend_the_oldest_credit_first(ledger: Books) -> None:
    """Two orders paid at the same instant expire together: the one that became credit
    first is spent first, even though its id sorts last."""
    paid = rome(2026, 1, 10, 9, 30)
    ledger.record(pay("MI0009", CUSTOMER, "40.00", paid), pay("MI0001", CUSTOMER, "40.00", paid))
    ledger.record(fail("MI0001", rome(2026, 1, 20)), fail("MI0009", rome(2026, 1, 12)))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", ASKED))

    assert ledger.only("credit.applied")["from_credits"] == [
        {"credit_id": "CR-MI0009", "amount": "40.00"},
        {"credit_id": "CR-MI0001", "amount": "10.00"},
    ]


def test_too_little_credit_is_held_and_the_difference_is_due(ledger: Books) -> None:
    """topup.required: what is held, what is due, how to pay it and by when."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    assert ledger.only("topup.required") == {
        "customer_id": CUSTOMER,
        "request_id": "R1",
        "order_id": "MI0100",
        "order_amount": "150.00",
        "held": "100.00",
        "amount_due": "50.00",
        "payment_methods": ["bollettino", "bonifico"],
        "payment_reference": "integrazione MI0100",
        "due_by": "2026-07-01T10:00:00+02:00",
    }
    assert ledger.data("credit.applied") == []
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["held"]) == (0, 10000)
    assert ledger.account(CUSTOMER, Account.CREDIT_HELD) == 10000
    assert ledger.available(CUSTOMER, ASKED) == 0


def test_paying_the_difference_funds_the_order(ledger: Books) -> None:
    """A top-up quoting `integrazione MI0100` commits the hold: order.funded."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    ledger.record(topup("MI0100", CUSTOMER, "50.00", ASKED + timedelta(days=3)))

    assert ledger.only("order.funded") == {
        "customer_id": CUSTOMER,
        "order_id": "MI0100",
        "applied": "100.00",
        "paid": "50.00",
    }
    credit = ledger.credit("CR-MI0001")
    assert (credit["held"], credit["used"]) == (0, 10000)
    assert ledger.account(CUSTOMER, Account.TOPUPS_RECEIVED) == 5000
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 0


def test_an_unpaid_hold_is_released_when_the_window_lapses(ledger: Books) -> None:
    """30 days on, the hold is released: the credit is available again, with its expiry."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    ledger.sweep("holds", DUE_BY - timedelta(minutes=1))
    assert ledger.data("hold.released") == []

    tally = ledger.sweep("holds", DUE_BY)

    assert ledger.only("hold.released") == {
        "customer_id": CUSTOMER,
        "order_id": "MI0100",
        "released": "100.00",
        "forfeited": "0.00",
    }
    assert tally["holds"]["counts"] == {"released": 1}
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["held"]) == (10000, 0)
    assert credit["expires_at"] == rome(2027, 1, 10)
    assert ledger.data("order.funded") == []


def test_a_held_credit_does_not_expire(ledger: Books) -> None:
    """The credit's expiry passes while it is held: the sweep leaves it, and paying the
    difference still funds the order with it."""
    grant(ledger, "MI0001", "100.00", rome(2025, 6, 15), rome(2025, 6, 16))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))  # expires 15 June

    ledger.sweep("all", rome(2026, 6, 20))
    assert ledger.data("credit.expired") == []
    assert ledger.credit("CR-MI0001")["held"] == 10000

    ledger.record(topup("MI0100", CUSTOMER, "50.00", rome(2026, 6, 25)))

    assert ledger.only("order.funded")["applied"] == "100.00"
    assert ledger.credit("CR-MI0001")["used"] == 10000
    assert ledger.account(CUSTOMER, Account.BREAKAGE) == 0


def test_a_lapsed_hold_forfeits_released_credit_already_expired(ledger: Books) -> None:
    """The credit expired during the hold: on release it is forfeited at once."""
    grant(ledger, "MI0001", "100.00", rome(2025, 6, 15), rome(2025, 6, 16))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    ledger.sweep("all", DUE_BY)

    assert ledger.only("hold.released") == {
        "customer_id": CUSTOMER,
        "order_id": "MI0100",
        "released": "100.00",
        "forfeited": "100.00",
    }
    assert ledger.only("credit.expired")["forfeited"] == "100.00"
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["held"], credit["forfeited"]) == (0, 0, 10000)
    assert ledger.available(CUSTOMER, DUE_BY) == 0


def test_a_lapsed_hold_forfeits_only_the_expired_credits(ledger: Books) -> None:
    """Two credits held, one expired meanwhile: that one is forfeited, the other returns."""
    grant(ledger, "MI0001", "30.00", rome(2025, 6, 15), rome(2025, 6, 16))
    grant(ledger, "MI0002", "40.00", rome(2026, 2, 1), rome(2026, 2, 2))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    ledger.sweep("all", DUE_BY)

    released = ledger.only("hold.released")
    assert (released["released"], released["forfeited"]) == ("70.00", "30.00")
    assert ledger.available(CUSTOMER, DUE_BY) == 4000


@pytest.mark.reliability
def test_the_request_must_come_from_the_owner_of_the_credit(ledger: Books) -> None:
    """Naming another account's credit is refused with not_owner; nothing moves."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))

    ledger.record(
        transfer("R1", OTHER_CUSTOMER, "MI0100", "50.00", ASKED, credit_ids=["CR-MI0001"])
    )

    rejected = ledger.only("request.rejected")
    assert (rejected["customer_id"], rejected["reason"]) == (OTHER_CUSTOMER, "not_owner")
    assert ledger.credit("CR-MI0001")["available"] == 10000


@pytest.mark.reliability
def test_credit_cannot_fund_an_order_of_another_account(ledger: Books) -> None:
    """The new order is someone else's (they paid for it): refused with not_owner."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(pay("MI0200", OTHER_CUSTOMER, "30.00", rome(2026, 5, 1)))

    ledger.record(transfer("R1", CUSTOMER, "MI0200", "30.00", ASKED))

    assert ledger.only("request.rejected")["reason"] == "not_owner"
    assert ledger.available(CUSTOMER, ASKED) == 10000


def test_another_customer_without_credit_gets_no_credit(ledger: Books) -> None:
    """Someone else's credit is invisible: a request from another account finds none."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))

    ledger.record(transfer("R1", OTHER_CUSTOMER, "MI0100", "50.00", ASKED))

    rejected = ledger.only("request.rejected")
    assert (rejected["reason"], rejected["customer_id"]) == ("no_credit", OTHER_CUSTOMER)
    assert ledger.credit("CR-MI0001")["available"] == 10000


def test_the_same_new_order_is_never_funded_twice(ledger: Books) -> None:
    """A second request for an order already covered is refused with already_funded."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", ASKED))

    ledger.record(transfer("R2", CUSTOMER, "MI0100", "40.00", ASKED + timedelta(hours=1)))

    rejected = ledger.only("request.rejected")
    assert (rejected["request_id"], rejected["reason"]) == ("R2", "already_funded")
    assert len(ledger.data("credit.applied")) == 1
    assert ledger.available(CUSTOMER, ASKED) == 6000


def test_an_order_on_hold_cannot_be_funded_again(ledger: Books) -> None:
    """While a hold awaits its top-up, a second request for the order is refused."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    grant(ledger, "MI0002", "100.00", rome(2026, 2, 10), rome(2026, 2, 11))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "250.00", ASKED))

    ledger.record(transfer("R2", CUSTOMER, "mi0100", "250.00", ASKED + timedelta(hours=1)))

    assert ledger.only("request.rejected")["reason"] == "already_funded"
    assert ledger.account(CUSTOMER, Account.CREDIT_HELD) == 20000


def test_a_released_order_may_be_funded_again(ledger: Books) -> None:
    """After a lapsed hold the order is free: a new request can cover it."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))
    ledger.sweep("holds", DUE_BY)
    grant(ledger, "MI0002", "60.00", rome(2026, 7, 2), rome(2026, 7, 3))

    ledger.record(transfer("R2", CUSTOMER, "MI0100", "150.00", rome(2026, 7, 5)))

    applied = ledger.only("credit.applied")
    assert (applied["request_id"], applied["applied"]) == ("R2", "150.00")


def test_no_credit_is_refused_with_a_reason(ledger: Books) -> None:
    """A customer with no credit at all gets request.rejected no_credit and a message."""
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", ASKED))

    rejected = ledger.only("request.rejected")
    assert rejected["reason"] == "no_credit"
    assert rejected["message"]
    assert ledger.data("topup.required") == []


def test_credit_already_held_is_not_spent_again(ledger: Books) -> None:
    """All credit held for one order: a request for another order is told it is held."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    ledger.record(transfer("R2", CUSTOMER, "MI0101", "10.00", ASKED + timedelta(hours=1)))

    assert ledger.only("request.rejected")["reason"] == "credit_held"
    assert ledger.account(CUSTOMER, Account.CREDIT_HELD) == 10000


def test_the_same_request_redelivered_acts_once(ledger: Books) -> None:
    """Same request id under a new event id: refused as a duplicate, reported to ops."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    first = transfer("R1", CUSTOMER, "MI0100", "40.00", ASKED)
    ledger.record(first)

    assert ledger.record(first) == [Recorded.DUPLICATE]
    assert ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", ASKED)) == [Recorded.REFUSED]

    assert ledger.only("event.rejected")["reason"] == "duplicate_request"
    assert len(ledger.data("credit.applied")) == 1
    assert ledger.available(CUSTOMER, ASKED) == 6000


def test_a_request_after_a_lapsed_hold_can_use_the_released_credit(ledger: Books) -> None:
    """Judged at requested_at: the hold lapsed at due_by even though no sweep ran, so
    its credit pays a new order asked for after that."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    ledger.record(transfer("R2", CUSTOMER, "MI0101", "80.00", DUE_BY + timedelta(hours=1)))

    assert ledger.only("hold.released")["order_id"] == "MI0100"
    applied = ledger.only("credit.applied")
    assert (applied["order_id"], applied["available_after"]) == ("MI0101", "20.00")
    assert ledger.sweep("holds", DUE_BY + timedelta(days=1))["holds"]["counts"] == {}


def test_a_request_before_the_hold_lapses_leaves_it_held(ledger: Books) -> None:
    """A minute before due_by the hold still stands: nothing to spend."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    ledger.record(transfer("R2", CUSTOMER, "MI0101", "80.00", DUE_BY - timedelta(minutes=1)))

    assert ledger.only("request.rejected")["reason"] == "credit_held"
    assert ledger.data("hold.released") == []


def test_an_order_whose_hold_lapsed_may_be_asked_for_again_before_any_sweep(
    ledger: Books,
) -> None:
    """The hold on MI0100 lapsed at due_by: a new request for MI0100 after that is not
    'already funded', even though no sweep has released the hold yet."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", ASKED))

    ledger.record(transfer("R2", CUSTOMER, "MI0100", "90.00", DUE_BY + timedelta(days=1)))

    assert ledger.data("request.rejected") == []
    assert ledger.only("credit.applied")["request_id"] == "R2"


def test_available_after_counts_all_the_credit_left(ledger: Books) -> None:
    """credit.applied tells the customer everything still usable, including credit that
    could not pay this order (SPID credit, for a modification)."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 10), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 10, 10))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "30.00", ASKED, purpose="modification"))

    applied = ledger.only("credit.applied")
    assert applied["from_credits"] == [{"credit_id": "CR-MI0001", "amount": "30.00"}]
    assert applied["available_after"] == "119.90"
    assert ledger.available(CUSTOMER, ASKED) == 11990


def test_available_after_counts_credit_the_request_did_not_name(ledger: Books) -> None:
    """Narrowed to one credit with `credit_ids`, the request still tells the customer
    all the credit left on the account."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    grant(ledger, "MI0002", "50.00", rome(2026, 2, 10), rome(2026, 2, 11))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "30.00", ASKED, credit_ids=["CR-MI0002"]))

    applied = ledger.only("credit.applied")
    assert applied["from_credits"] == [{"credit_id": "CR-MI0002", "amount": "30.00"}]
    assert applied["available_after"] == "120.00"


def test_a_request_dated_before_the_credit_existed_cannot_spend_it(ledger: Books) -> None:
    """Business time: a transfer dated 5 January, delivered after the failure of
    10 January that made the credit, finds no credit then, as it would have in order."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 1), rome(2026, 1, 10))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "20.00", rome(2026, 1, 5)))

    assert ledger.only("request.rejected")["reason"] == "no_credit"
    assert ledger.credit("CR-MI0001")["available"] == 10000


def test_an_order_already_paid_in_full_is_not_funded_with_credit(ledger: Books) -> None:
    """MI0100 was paid by card: moving credit onto it too would pay it twice."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(pay("MI0100", CUSTOMER, "40.00", rome(2026, 5, 1)))

    ledger.record(transfer("R1", CUSTOMER, "mi0100", "40.00", ASKED))

    assert ledger.only("request.rejected")["reason"] == "already_funded"
    assert ledger.credit("CR-MI0001")["available"] == 10000


def test_a_card_payment_for_an_order_funded_with_credit_is_kept_for_ops(ledger: Books) -> None:
    """MI0100 was covered by credit; a later card payment for it is money all the same:
    kept in unmatched payments, reported, and no second order is opened."""
    grant(ledger, "MI0001", "100.00", rome(2026, 1, 10), rome(2026, 1, 11))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", ASKED))

    outcome = ledger.record(pay("MI0100", CUSTOMER, "40.00", ASKED + timedelta(days=1)))

    assert outcome == [Recorded.REFUSED]
    assert ledger.only("event.rejected")["reason"] == "order_funded_with_credit"
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 4000
    assert ledger.account(CUSTOMER, Account.ORDER_PREPAYMENTS) == 0
