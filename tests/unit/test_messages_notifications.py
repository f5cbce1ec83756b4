"""Notifications (SPEC §3): the payload models and the envelope the outbox stores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from messages import (
    NOTIFICATION_TYPES,
    CreditAdjusted,
    CreditApplied,
    CreditExpired,
    CreditExpiringSoon,
    CreditGranted,
    CreditPortion,
    CreditReinstated,
    CreditRestored,
    EventLate,
    EventRejected,
    HoldReinstated,
    HoldReleased,
    InvalidEvent,
    LateEventEffects,
    NotificationData,
    NotificationVoided,
    OrderFunded,
    PaymentMatched,
    PaymentUnmatched,
    RefundRequested,
    RequestReconsidered,
    RequestRejected,
    SpidDeadlineApproaching,
    SpidOrderCancelled,
    SpidOrderReinstated,
    SweepCompleted,
    TopupRequired,
    notification_envelope,
    parse_notification,
)

ROME = timezone(timedelta(hours=1))
AT = datetime(2026, 2, 1, 9, 0, tzinfo=ROME)
LATER = datetime(2027, 1, 10, 9, 30, tzinfo=ROME)
CUSTOMER = "1234567@aruba.it"
PORTIONS = [CreditPortion(credit_id="CR-1", amount=Decimal("20.00"))]

GRANTED = CreditGranted(
    customer_id=CUSTOMER,
    credit_id="CR-1",
    origin="activation_failed",
    source_order_id="MI0001",
    amount=Decimal("49.90"),
    expires_at=LATER,
    refundable=False,
)
APPLIED = CreditApplied(
    customer_id=CUSTOMER,
    request_id="REQ-1",
    order_id="MI0002",
    applied=Decimal("20"),
    from_credits=PORTIONS,
    available_after=Decimal("0"),
)
TOPUP = TopupRequired(
    customer_id=CUSTOMER,
    request_id="REQ-1",
    order_id="MI0002",
    order_amount=Decimal("100"),
    held=Decimal("20"),
    amount_due=Decimal("80"),
    due_by=LATER,
)
UNREADABLE_EVENT = EventRejected(
    event_id=None, event_type=None, reason="bad_json", detail="body is not JSON"
)

SAMPLES: list[NotificationData] = [
    GRANTED,
    APPLIED,
    TOPUP,
    UNREADABLE_EVENT,
    SpidOrderCancelled(
        customer_id=CUSTOMER,
        order_id="MI0001",
        paid_at=AT,
        cancelled_at=AT,
        credit_id="CR-1",
        amount=Decimal("49.90"),
        expires_at=LATER,
    ),
    OrderFunded(customer_id=CUSTOMER, order_id="MI0002", applied=Decimal("20"), paid=Decimal("80")),
    HoldReleased(
        customer_id=CUSTOMER, order_id="MI0002", released=Decimal("20"), forfeited=Decimal("0")
    ),
    RefundRequested(
        customer_id=CUSTOMER, request_id="REQ-2", amount=Decimal("20"), from_credits=PORTIONS
    ),
    CreditExpired(customer_id=CUSTOMER, credit_id="CR-1", forfeited=Decimal("5"), expired_at=AT),
    CreditExpiringSoon(
        customer_id=CUSTOMER,
        credit_id="CR-1",
        remaining=Decimal("5"),
        expires_at=LATER,
        days_left=7,
    ),
    SpidDeadlineApproaching(customer_id=CUSTOMER, order_id="MI0001", deadline=LATER, days_left=30),
    RequestRejected(
        customer_id=CUSTOMER, request_id="REQ-3", reason="no_credit", message="No credit."
    ),
    SweepCompleted(
        kind="expiry",
        as_of=AT,
        counts={"forfeited": 2},
        amounts={"forfeited": Decimal("5")},
    ),
    PaymentUnmatched(
        customer_id=CUSTOMER,
        order_id="MI0002",
        event_id="evt-0009",
        amount=Decimal("3.50"),
        reason="overpaid",
        detail="paid 83.50, 80.00 was due",
    ),
    CreditRestored(
        customer_id=CUSTOMER,
        order_id="MI0100",
        restored=Decimal("40.00"),
        forfeited=Decimal("0"),
        from_credits=[CreditPortion(credit_id="CR-MI0001", amount=Decimal("40.00"))],
    ),
    PaymentMatched(
        customer_id=CUSTOMER,
        order_id="MI0002",
        event_id="evt-0009",
        request_id="REQ-0002",
        amount=Decimal("30.00"),
    ),
    *(
        model(
            customer_id=CUSTOMER,
            voided_id="5b1d1f0e-3b7a-5c2e-9d4f-0a1b2c3d4e5f",
            voided_type=voided,
            reason="late_evidence",
            detail="event evt-0042 came late",
            correction_id=1,
            credit_id="CR-MI0001",
        )
        for model, voided in (
            (NotificationVoided, "credit.granted"),
            (CreditReinstated, "credit.expired"),
            (HoldReinstated, "hold.released"),
            (SpidOrderReinstated, "spid.order_cancelled"),
            (RequestReconsidered, "request.rejected"),
        )
    ),
    CreditAdjusted(
        customer_id=CUSTOMER,
        credit_id="CR-MI0001",
        action="reinstated",
        amount=Decimal("30.00"),
        expires_at=LATER,
        adjustment_id="adj-0001",
        operator="anna",
        reason="ticket 4711",
    ),
    EventLate(
        event_id="evt-0042",
        event_type="credit.requested",
        business_time=AT,
        watermark=LATER,
        allowed_lateness_days=7,
        would_have_changed=LateEventEffects(
            entries_reversed=1, entries_booked=2, voided=["credit.expired"], told=["credit.applied"]
        ),
        detail="judged against the books as they stood",
    ),
]

SPEC_TYPES = {
    "credit.granted",
    "spid.order_cancelled",
    "credit.applied",
    "topup.required",
    "order.funded",
    "hold.released",
    "refund.requested",
    "credit.expired",
    "credit.expiring_soon",
    "spid.deadline_approaching",
    "request.rejected",
    "event.rejected",
    "sweep.completed",
}


def test_the_registry_holds_the_spec_types_and_the_extensions() -> None:
    """Every SPEC §3 type has a model, plus `payment.unmatched`, `payment.matched` and
    `event.late` for ops, `credit.restored` for customers, the corrections, and no
    others."""
    extensions = {
        "payment.unmatched",
        "payment.matched",
        "credit.restored",
        "event.late",
        "notification.voided",
        "credit.reinstated",
        "hold.reinstated",
        "spid.order_reinstated",
        "request.reconsidered",
        "credit.adjusted",
    }
    assert set(NOTIFICATION_TYPES) == SPEC_TYPES | extensions
    assert all(name == model.TYPE for name, model in NOTIFICATION_TYPES.items())


def test_every_registered_type_has_a_sample_here() -> None:
    """The round-trip test below covers every notification type."""
    assert {sample.TYPE for sample in SAMPLES} == set(NOTIFICATION_TYPES)


def test_an_envelope_comes_from_residuo_routed_by_type_with_an_offset_time() -> None:
    """`source` is residuo, `type` is the routing key, `time` carries its offset."""
    envelope = notification_envelope(GRANTED, id="ntf-1", time=AT)

    assert envelope["specversion"] == "1.0"
    assert envelope["id"] == "ntf-1"
    assert envelope["source"] == "residuo"
    assert envelope["type"] == "credit.granted"
    assert envelope["datacontenttype"] == "application/json"
    assert envelope["time"] == "2026-02-01T09:00:00+01:00"
    assert datetime.fromisoformat(envelope["time"]).utcoffset() is not None


def test_an_envelope_about_a_customer_has_the_customer_as_subject() -> None:
    """Consumers can filter on `subject` without knowing each payload."""
    assert notification_envelope(GRANTED, id="ntf-1", time=AT)["subject"] == CUSTOMER


def test_an_envelope_about_no_customer_has_no_subject() -> None:
    """Ops notifications have no customer, so no `subject` attribute at all."""
    envelope = notification_envelope(UNREADABLE_EVENT, id="ntf-2", time=AT)

    assert "subject" not in envelope


def test_nulls_inside_data_are_kept() -> None:
    """`event.rejected` with an unreadable id still carries `event_id: null`."""
    envelope = notification_envelope(UNREADABLE_EVENT, id="ntf-2", time=AT)

    assert envelope["data"]["event_id"] is None


def test_amounts_and_instants_are_strings_in_the_envelope() -> None:
    """The envelope is JSON-ready: amounts are two-decimal strings, instants ISO 8601."""
    data = notification_envelope(APPLIED, id="ntf-3", time=AT)["data"]

    assert data["applied"] == "20.00"
    assert data["available_after"] == "0.00"
    assert data["from_credits"] == [{"credit_id": "CR-1", "amount": "20.00"}]
    assert json.loads(json.dumps(data)) == data


def test_a_naive_envelope_time_is_refused() -> None:
    """A notification's `time` is an instant; a naive datetime is a programming error."""
    with pytest.raises(ValidationError, match="timezone"):
        notification_envelope(GRANTED, id="ntf-1", time=datetime(2026, 2, 1, 9))


def test_a_topup_defaults_to_postal_slip_and_bank_transfer_and_its_reference() -> None:
    """The difference is due by bollettino or bonifico quoting `integrazione <order>`."""
    assert TOPUP.payment_methods == ["bollettino", "bonifico"]
    assert TOPUP.payment_reference == "integrazione MI0002"


def test_a_topup_reference_for_another_order_is_refused() -> None:
    """The reference must name the order the difference is due on."""
    with pytest.raises(ValidationError, match="integrazione MI0002"):
        TopupRequired(
            customer_id=CUSTOMER,
            request_id="REQ-1",
            order_id="MI0002",
            order_amount=Decimal("100"),
            held=Decimal("20"),
            amount_due=Decimal("80"),
            payment_reference="integrazione MI0003",
            due_by=LATER,
        )


def test_a_notification_refuses_a_naive_instant() -> None:
    """Instants built by the ledger must be aware."""
    with pytest.raises(ValidationError, match="timezone"):
        CreditExpired(
            customer_id=CUSTOMER,
            credit_id="CR-1",
            forfeited=Decimal("5"),
            expired_at=datetime(2027, 1, 10),
        )


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.TYPE)
def test_every_notification_reads_back_as_it_was_written(sample: NotificationData) -> None:
    """An envelope, serialized to JSON and parsed back, gives the same type and data."""
    wire = json.dumps(notification_envelope(sample, id="ntf-9", time=AT))

    assert parse_notification(wire) == (sample.TYPE, sample)


def test_reading_back_an_unknown_notification_type_is_refused() -> None:
    """Consumers are told, not handed an untyped payload."""
    envelope = notification_envelope(GRANTED, id="ntf-1", time=AT) | {"type": "credit.lost"}

    with pytest.raises(InvalidEvent) as caught:
        parse_notification(envelope)

    assert (caught.value.reason, caught.value.event_id) == ("unknown_type", "ntf-1")


def test_reading_back_a_bad_payload_names_its_field_under_data() -> None:
    """Payload errors are reported with their `data.` path, like inbound ones."""
    envelope = notification_envelope(GRANTED, id="ntf-1", time=AT)
    envelope["data"]["amount"] = 49.9

    with pytest.raises(InvalidEvent) as caught:
        parse_notification(envelope)

    assert caught.value.reason == "bad_amount"
    assert caught.value.detail.startswith("data.amount:")
