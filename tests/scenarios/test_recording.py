"""What ``Ledger.record`` says became of an event: the outcome its caller logs and
counts, the reason of a refusal, and the parked events a payment let apply."""

from datetime import timedelta

from scenarios.kit import CUSTOMER, Books, activate, fail, pay, refund, rome, transfer

from ledger.service import EventRecorded, Recorded

PAID = rome(2026, 1, 10)


def test_a_request_the_rules_turn_down_is_refused_with_its_reason(ledger: Books) -> None:
    """A refund of credit that is not refundable: the customer gets request.rejected,
    and the caller reads refused, not applied."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", PAID))
    request = refund("R1", CUSTOMER, rome(2026, 2, 1), id="evt-refund")

    recording = ledger.ledger.record(request)

    assert recording.event == EventRecorded(
        "evt-refund", "credit.requested", Recorded.REFUSED, "not_refundable"
    )
    assert recording.unparked == ()
    assert ledger.only("request.rejected")["reason"] == "not_refundable"


def test_a_request_applied_is_applied(ledger: Books) -> None:
    """A transfer covered by credit: applied, no reason."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", PAID))
    request = transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 2, 1), id="evt-move")

    recording = ledger.ledger.record(request)

    assert recording.event == EventRecorded("evt-move", "credit.requested", Recorded.APPLIED)


def test_a_payment_names_the_parked_events_it_applied_in_business_order(ledger: Books) -> None:
    """Activation then failure, both before the payment: each parked, then both applied
    (in business-time order) by the payment's own call; the later one refused."""
    failed = fail("MI0001", PAID + timedelta(days=2), id="evt-fail")
    activated = activate("MI0001", PAID + timedelta(days=1), id="evt-act")
    assert ledger.record(failed, activated) == [Recorded.PARKED, Recorded.PARKED]

    recording = ledger.ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID, id="evt-pay"))

    assert recording.outcome is Recorded.APPLIED
    assert [(each.event_id, each.outcome) for each in recording.unparked] == [
        ("evt-act", Recorded.APPLIED),
        ("evt-fail", Recorded.REFUSED),
    ]
    assert recording.unparked[1].reason is not None


def test_a_duplicate_says_so_and_applies_nothing_parked(ledger: Books) -> None:
    """The same payment again: duplicate, with nothing unparked."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID, id="evt-pay"))

    recording = ledger.ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID, id="evt-pay"))

    assert recording.event == EventRecorded("evt-pay", "payment.received", Recorded.DUPLICATE)
    assert recording.unparked == ()
