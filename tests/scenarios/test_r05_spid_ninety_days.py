"""R5: a SPID order not activated within 90 days of paid_at (same wall-clock time in
Rome) is cancelled, effective at paid_at + 90 days whenever the sweep runs; it can no
longer be activated; its amount becomes credit for purchases or renewals for 12
months (anchored on paid_at by default), or refundable. An activation for a cancelled
order is refused and reported; a SPID order whose activation failed before day 90
follows R1 instead, never both."""

from datetime import timedelta

from scenarios.kit import CUSTOMER, Books, activate, fail, pay, refund, rome, transfer

from ledger.books import Account
from ledger.service import Recorded

PAID = rome(2026, 1, 10, 9, 30)
DEADLINE = rome(2026, 4, 10, 9, 30)  # 90 days later, now in summer time


def test_an_unactivated_spid_order_is_cancelled_at_ninety_days(ledger: Books) -> None:
    """The sweep cancels it, effective at the deadline, and makes refundable credit."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    tally = ledger.sweep("spid_timeout", DEADLINE + timedelta(days=3))

    assert ledger.only("spid.order_cancelled") == {
        "customer_id": CUSTOMER,
        "order_id": "SP0001",
        "paid_at": "2026-01-10T09:30:00+01:00",
        "cancelled_at": "2026-04-10T09:30:00+02:00",
        "credit_id": "CR-SP0001",
        "amount": "49.90",
        "expires_at": "2027-01-10T09:30:00+01:00",
    }
    granted = ledger.only("credit.granted")
    assert (granted["origin"], granted["refundable"], granted["amount"]) == (
        "spid_timeout",
        True,
        "49.90",
    )
    assert tally["spid_timeout"] == {"counts": {"cancelled": 1}, "cents": {"cancelled": 4990}}
    assert ledger.available(CUSTOMER, DEADLINE) == 4990
    cancellation = [entry for entry in ledger.journal() if entry[0] == "credit_granted"]
    assert [entry[2] for entry in cancellation] == [DEADLINE]


def test_the_timeout_falls_exactly_at_ninety_days(ledger: Books) -> None:
    """A minute before day 90 nothing happens; at the deadline itself the order is cancelled."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    ledger.sweep("spid_timeout", DEADLINE - timedelta(minutes=1))
    assert ledger.data("spid.order_cancelled") == []

    ledger.sweep("spid_timeout", DEADLINE)
    assert len(ledger.data("spid.order_cancelled")) == 1


def test_the_service_name_is_matched_without_case(ledger: Books) -> None:
    """'SPID' from upstream is a SPID order too."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="SPID"))

    ledger.sweep("spid_timeout", DEADLINE)

    assert ledger.only("spid.order_cancelled")["order_id"] == "SP0001"


def test_a_cancelled_order_is_cancelled_once(ledger: Books) -> None:
    """Repeated sweeps neither cancel again nor make a second credit."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    for days in (0, 0, 1, 40):
        ledger.sweep("all", DEADLINE + timedelta(days=days))

    assert len(ledger.data("spid.order_cancelled")) == 1
    assert len(ledger.data("credit.granted")) == 1
    assert ledger.credit("CR-SP0001")["granted"] == 4990


def test_an_activated_spid_order_is_never_cancelled(ledger: Books) -> None:
    """Activation within 90 days: no cancellation, no credit, the sale is revenue."""
    ledger.record(
        pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"),
        activate("SP0001", DEADLINE - timedelta(minutes=1)),
    )

    ledger.sweep("all", DEADLINE + timedelta(days=1))

    assert ledger.data("spid.order_cancelled") == ledger.data("credit.granted") == []
    assert ledger.account(CUSTOMER, Account.REVENUE) == 4990


def test_activation_after_cancellation_is_refused_and_reported(ledger: Books) -> None:
    """The order is cancelled: ops get event.rejected and the credit stays."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))
    ledger.sweep("spid_timeout", DEADLINE)
    activation = activate("SP0001", DEADLINE + timedelta(days=2))

    assert ledger.record(activation) == [Recorded.REFUSED]

    rejected = ledger.only("event.rejected")
    assert rejected["event_id"] == activation.id
    assert rejected["event_type"] == "activation.completed"
    assert rejected["reason"] == "order_cancelled"
    assert ledger.account(CUSTOMER, Account.REVENUE) == 0
    assert ledger.available(CUSTOMER, DEADLINE + timedelta(days=2)) == 4990


def test_a_late_activation_is_judged_at_its_own_time_before_any_sweep(ledger: Books) -> None:
    """activated_at after day 90, processed before the sweep: the order is cancelled at the
    deadline all the same, the credit made, and the activation refused."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    assert ledger.record(activate("SP0001", DEADLINE + timedelta(hours=1))) == [Recorded.REFUSED]

    assert ledger.only("spid.order_cancelled")["cancelled_at"] == "2026-04-10T09:30:00+02:00"
    assert ledger.only("event.rejected")["reason"] == "order_cancelled"
    assert ledger.available(CUSTOMER, DEADLINE) == 4990
    ledger.sweep("all", DEADLINE + timedelta(days=1))
    assert len(ledger.data("credit.granted")) == 1


def test_activation_processed_after_the_deadline_but_dated_before_it_is_applied(
    ledger: Books,
) -> None:
    """Business time, not processing time: activated on day 89, no sweep yet → active."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    assert ledger.record(activate("SP0001", DEADLINE - timedelta(days=1))) == [Recorded.APPLIED]

    ledger.sweep("all", DEADLINE + timedelta(days=10))
    assert ledger.data("spid.order_cancelled") == []
    assert ledger.account(CUSTOMER, Account.REVENUE) == 4990


def test_a_spid_failure_before_day_ninety_follows_r1_not_both(ledger: Books) -> None:
    """Failed on day 30: activation-failed credit (not refundable), and the sweep past
    day 90 adds no cancellation and no second credit."""
    ledger.record(
        pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"),
        fail("SP0001", PAID + timedelta(days=30)),
    )

    ledger.sweep("all", DEADLINE + timedelta(days=1))

    granted = ledger.only("credit.granted")
    assert (granted["origin"], granted["refundable"]) == ("activation_failed", False)
    assert ledger.data("spid.order_cancelled") == []
    assert ledger.credit("CR-SP0001")["granted"] == 4990


def test_a_spid_failure_after_day_ninety_does_not_make_r1_credit(ledger: Books) -> None:
    """Failed after the deadline (no sweep yet): the order was already cancelled at day 90,
    so the credit is the SPID one and the failure is refused, never both."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    assert ledger.record(fail("SP0001", DEADLINE + timedelta(days=1))) == [Recorded.REFUSED]

    granted = ledger.only("credit.granted")
    assert (granted["origin"], granted["refundable"]) == ("spid_timeout", True)
    assert ledger.only("spid.order_cancelled")["order_id"] == "SP0001"
    assert ledger.only("event.rejected")["reason"] == "order_cancelled"


def test_a_parked_spid_failure_dated_before_day_ninety_follows_r1(ledger: Books) -> None:
    """The failure arrived first and the payment long after day 90: R1 still decides,
    because the failure happened before the deadline."""
    ledger.record(fail("SP0001", PAID + timedelta(days=10)))
    ledger.sweep("all", DEADLINE + timedelta(days=5))  # the order is not known yet

    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))
    ledger.sweep("all", DEADLINE + timedelta(days=6))

    assert ledger.only("credit.granted")["origin"] == "activation_failed"
    assert ledger.data("spid.order_cancelled") == []


def test_spid_credit_pays_purchases_and_renewals_only(ledger: Books) -> None:
    """'per l'acquisto o il rinnovo di un altro servizio': a modification is refused."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))
    ledger.sweep("spid_timeout", DEADLINE)

    ledger.record(
        transfer("R1", CUSTOMER, "MI0100", "10.00", DEADLINE, purpose="modification"),
        transfer("R2", CUSTOMER, "MI0101", "10.00", DEADLINE, purpose="renewal"),
        transfer("R3", CUSTOMER, "MI0102", "10.00", DEADLINE, purpose="purchase"),
    )

    assert ledger.only("request.rejected")["reason"] == "purpose_not_allowed"
    assert [each["order_id"] for each in ledger.data("credit.applied")] == ["MI0101", "MI0102"]
    assert ledger.available(CUSTOMER, DEADLINE) == 2990


def test_spid_credit_is_refundable_instead(ledger: Books) -> None:
    """The cancelled order's credit may be refunded on request."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))
    ledger.sweep("spid_timeout", DEADLINE)

    ledger.record(refund("R1", CUSTOMER, DEADLINE + timedelta(days=1)))

    assert ledger.only("refund.requested")["amount"] == "49.90"
    assert ledger.account(CUSTOMER, Account.REFUNDS_PAYABLE) == 4990


def test_spid_credit_validity_is_anchored_on_payment(ledger: Books) -> None:
    """By default the 12 months run from paid_at, not from the cancellation."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))
    ledger.sweep("spid_timeout", DEADLINE)

    assert ledger.credit("CR-SP0001")["expires_at"] == rome(2027, 1, 10, 9, 30)
    ledger.sweep("expiry", rome(2027, 1, 10, 9, 30))
    assert ledger.only("credit.expired")["forfeited"] == "49.90"


def test_a_payment_recorded_after_its_deadline_is_cancelled_at_the_deadline(ledger: Books) -> None:
    """A payment processed late (sweeps already ran past day 90) is cancelled by the next
    sweep with cancelled_at = paid_at + 90 days, not the sweep's time."""
    ledger.sweep("all", DEADLINE + timedelta(days=2))
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    ledger.sweep("all", DEADLINE + timedelta(days=3))

    assert ledger.only("spid.order_cancelled")["cancelled_at"] == "2026-04-10T09:30:00+02:00"


def test_a_request_after_day_ninety_finds_the_credit_before_any_sweep(ledger: Books) -> None:
    """Judged at requested_at: the order was cancelled at day 90 whether or not the sweep
    ran, so a refund asked on day 91 is granted; the sweep then has nothing left to do."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    ledger.record(refund("R1", CUSTOMER, DEADLINE + timedelta(days=1)))

    assert ledger.only("spid.order_cancelled")["cancelled_at"] == "2026-04-10T09:30:00+02:00"
    assert ledger.only("refund.requested")["amount"] == "49.90"
    tally = ledger.sweep("spid_timeout", DEADLINE + timedelta(days=2))
    assert tally["spid_timeout"]["counts"] == {}
    assert len(ledger.data("credit.granted")) == 1


def test_a_request_before_day_ninety_does_not_cancel_the_order(ledger: Books) -> None:
    """On day 89 the order is still awaiting activation: no credit to use yet."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    ledger.record(refund("R1", CUSTOMER, DEADLINE - timedelta(minutes=1)))

    assert ledger.only("request.rejected")["reason"] == "no_credit"
    assert ledger.data("spid.order_cancelled") == []
