"""Late evidence: the same books whatever order the events arrive in.

Within the allowed lateness, an event that comes after books it changes were written
leaves the books of business-time order: what differs is reversed and booked anew, and
what was told and is no longer true is voided by a notification of its own. Later
than that, it is placed at the settled horizon and ops are told (``event.late``),
who can correct by hand (``residuo adjust``).
"""

from datetime import timedelta

import pytest
from scenarios.kit import (
    CUSTOMER,
    Books,
    activate,
    assert_books_never_negative_in_business_time,
    fail,
    pay,
    refund,
    rome,
    topup,
    transfer,
)

from ledger.books import Account
from ledger.errors import AdjustmentRefusedError
from ledger.policy import Policy
from ledger.service import Recorded


@pytest.fixture
def thirty_of_credit(ledger: Books) -> Books:
    """CR-MI0001: 30.00, granted 2026-01-11, expiring 2027-01-10."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))
    return ledger


def test_a_topup_paid_in_time_and_reported_after_the_holds_sweep_funds_the_order(
    thirty_of_credit: Books,
) -> None:
    """The customer paid within the window; the feed reported it after the sweep had
    released the hold. In time order the order is funded: the release is taken back."""
    ledger = thirty_of_credit
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 3, 1)))
    ledger.sweep("all", rome(2026, 4, 1, 4, 30))
    assert ledger.only("hold.released")["released"] == "30.00"

    ledger.record(topup("MI0100", CUSTOMER, "20.00", rome(2026, 3, 30), method="bollettino"))

    assert ledger.only("hold.reinstated")["order_id"] == "MI0100"
    assert ledger.standing("hold.released") == []
    assert ledger.only("order.funded")["paid"] == "20.00"
    assert ledger.credit("CR-MI0001")["used"] == 3000
    assert_books_never_negative_in_business_time(ledger.engine)


def test_a_request_dated_before_an_expiry_and_delivered_after_its_sweep_spends_in_time(
    ledger: Books,
) -> None:
    """The request was made the day before the credit expired; the expiry sweep ran
    first. In time order it spent 10.00, and only the rest was forfeited."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 2, 1)))
    ledger.record(fail("MI0001", rome(2025, 2, 2)))
    ledger.sweep("expiry", rome(2026, 2, 2, 4, 30))
    assert ledger.only("credit.expired")["forfeited"] == "30.00"

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "10.00", rome(2026, 1, 31)))

    assert ledger.only("credit.reinstated")["credit_id"] == "CR-MI0001"
    assert [each["forfeited"] for each in ledger.standing("credit.expired")] == ["20.00"]
    assert ledger.only("credit.applied")["applied"] == "10.00"
    credit = ledger.credit("CR-MI0001")
    assert (credit["used"], credit["forfeited"], credit["available"]) == (1000, 2000, 0)


def test_a_late_transfer_no_longer_spends_refundable_credit_a_refund_had_asked_for(
    ledger: Books,
) -> None:
    """In time order the refund (1 May) took the SPID credit and the transfer (2 May)
    was paid from the other credit; delivered the other way round, the transfer took
    the SPID credit (soonest-expiring) first. The books end as in time order."""
    ledger.record(pay("SP0001", CUSTOMER, "40.00", rome(2026, 1, 10), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 11, 4, 30))
    ledger.record(pay("MI0001", CUSTOMER, "50.00", rome(2026, 3, 1)))
    ledger.record(fail("MI0001", rome(2026, 3, 2)))

    ledger.record(transfer("R2", CUSTOMER, "MI0100", "40.00", rome(2026, 5, 2)))
    ledger.record(refund("R1", CUSTOMER, rome(2026, 5, 1)))

    assert ledger.credit("CR-SP0001")["refunded"] == 4000
    assert ledger.credit("CR-MI0001")["used"] == 4000
    assert [each["amount"] for each in ledger.standing("refund.requested")] == ["40.00"]
    assert len(ledger.standing("credit.applied")) == 1
    assert ledger.data("request.reconsidered")


def test_a_request_delivered_before_the_failure_that_made_its_credit_handed_case(
    ledger: Books,
) -> None:
    """The request came first, the failure dated before it came after: the request is
    reconsidered and spends the credit, as in time order."""
    ledger.replay_case("late/request_before_late_grant")

    assert ledger.only("request.reconsidered")["voided_type"] == "request.rejected"
    assert ledger.only("credit.applied")["applied"] == "15.00"
    credit = ledger.credit("CR-MI0001")
    assert (credit["used"], credit["available"]) == (1500, 2500)


def test_a_topup_delivered_before_its_request_handed_case(ledger: Books) -> None:
    """The top-up (paid after the hold's window) came before the request: in time
    order the hold lapsed and the money is kept for ops; unmatched payments are never
    negative at any business instant."""
    ledger.replay_case("late/topup_delivered_before_request")

    assert ledger.data("order.funded") == []
    assert [each["reason"] for each in ledger.standing("payment.unmatched")] == ["hold_lapsed"]
    assert ledger.credit("CR-MI0001")["available"] == 3000
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 2000
    assert_books_never_negative_in_business_time(ledger.engine)


def test_an_activation_in_time_delivered_after_the_spid_cancellation_revives_the_order(
    ledger: Books,
) -> None:
    """Activated the day before its 90-day deadline, reported after the sweep cancelled
    it: the cancellation and its credit are taken back; the order is live."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 10, 9, 30), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 11, 4, 30))
    assert ledger.only("spid.order_cancelled")["order_id"] == "SP0001"

    assert ledger.record(activate("SP0001", rome(2026, 4, 9))) == [Recorded.APPLIED]

    assert ledger.only("spid.order_reinstated")["order_id"] == "SP0001"
    assert ledger.standing("spid.order_cancelled") == []
    assert ledger.standing("credit.granted") == []
    assert ledger.account(CUSTOMER, Account.REVENUE) == 4990
    assert ledger.account(CUSTOMER, Account.CREDIT_AVAILABLE) == 0


def test_an_event_later_than_the_allowed_lateness_is_reported_then_adjusted_by_hand(
    thirty_of_credit: Books,
) -> None:
    """Reported three weeks after the expiry it would have prevented: placed at the
    settled horizon, too late to change the forfeiture, and ops are told what it would
    have changed; they reinstate the credit by hand. (An allowed lateness of 7 days;
    the clock reads February 2027, as the watermark is never later than the clock.)"""
    expired = rome(2027, 1, 10)
    ledger = Books(
        thirty_of_credit.engine,
        Policy(allowed_lateness_days=7),
        clock=lambda: expired + timedelta(days=30),
    )
    ledger.sweep("expiry", expired + timedelta(days=21))
    late = transfer("R1", CUSTOMER, "MI0100", "10.00", expired - timedelta(days=1))

    ledger.record(late)

    report = ledger.only("event.late")
    assert report["event_id"] == late.id
    assert report["would_have_changed"]["voided"] == ["credit.expired", "request.rejected"]
    # Placed at the horizon (24 January), where the credit has expired.
    assert ledger.only("request.rejected")["reason"] == "credit_expired"
    assert ledger.credit("CR-MI0001")["forfeited"] == 3000

    ledger.adjust(
        "reinstate",
        CUSTOMER,
        expired + timedelta(days=22),
        credit_id="CR-MI0001",
        amount="30.00",
        until=expired + timedelta(days=60),
    )

    adjusted = ledger.only("credit.adjusted")
    assert (adjusted["action"], adjusted["amount"]) == ("reinstated", "30.00")
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["forfeited"]) == (3000, 0)
    assert ledger.available(CUSTOMER, expired + timedelta(days=23)) == 3000


def test_within_a_zero_lateness_nothing_is_corrected(thirty_of_credit: Books) -> None:
    """With the allowed lateness set to 0, a late top-up is judged against the books as
    they stand and reported (R12: a setting)."""
    ledger = thirty_of_credit.under(Policy(allowed_lateness_days=0))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 3, 1)))
    ledger.sweep("all", rome(2026, 4, 1, 4, 30))

    ledger.record(topup("MI0100", CUSTOMER, "20.00", rome(2026, 3, 30)))

    assert ledger.data("hold.reinstated") == []
    assert ledger.only("event.late")["allowed_lateness_days"] == 0
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 2000


def test_adjustments_book_balanced_entries_and_never_overdraw(thirty_of_credit: Books) -> None:
    """Void part of a credit, extend its expiry, grant goodwill; taking more than a
    bucket holds is refused and leaves nothing behind."""
    ledger = thirty_of_credit
    at = rome(2026, 2, 1)

    ledger.adjust("void", CUSTOMER, at, credit_id="CR-MI0001", amount="10.00")
    ledger.adjust("extend", CUSTOMER, at, credit_id="CR-MI0001", until=rome(2027, 6, 1))
    ledger.adjust("goodwill", CUSTOMER, at, amount="5.00", until=rome(2026, 12, 31), id="adj-gw")
    with pytest.raises(AdjustmentRefusedError, match=r"has 20\.00 available"):
        ledger.adjust("void", CUSTOMER, at, credit_id="CR-MI0001", amount="25.00")
    with pytest.raises(AdjustmentRefusedError, match="already runs until"):
        ledger.adjust("extend", CUSTOMER, at, credit_id="CR-MI0001", until=rome(2026, 6, 1))

    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["forfeited"]) == (2000, 1000)
    assert credit["expires_at"] == rome(2027, 6, 1)
    goodwill = ledger.credit("CR-ADJ-GW")
    assert (goodwill["origin"], goodwill["available"]) == ("goodwill", 500)
    assert ledger.account(CUSTOMER, Account.GOODWILL) == 500
    assert [each["action"] for each in ledger.data("credit.adjusted")] == [
        "voided",
        "extended",
        "goodwill",
    ]
    assert ledger.available(CUSTOMER, at) == 2500


def test_an_adjustment_survives_a_later_correction(thirty_of_credit: Books) -> None:
    """A goodwill credit booked by hand stays when a late event re-derives the books:
    adjustments are re-applied in their turn, never reversed."""
    ledger = thirty_of_credit
    ledger.adjust("goodwill", CUSTOMER, rome(2026, 2, 10), amount="5.00", until=rome(2026, 12, 31))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "10.00", rome(2026, 2, 12)))

    ledger.record(refund("R0", CUSTOMER, rome(2026, 2, 11)))

    assert ledger.data("request.reconsidered") == []
    assert len(ledger.data("credit.adjusted")) == 1
    assert ledger.available(CUSTOMER, rome(2026, 2, 13)) == 2500
