"""R12: 12 months, 90 days, the hold window, reminder offsets, the refundable origins,
the purposes each origin may pay, the validity anchor, the currency and the business
time zone are settings: changing one changes what the ledger does."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from scenarios.kit import CUSTOMER, Books, fail, pay, refund, rome, transfer

from ledger.policy import Policy
from messages import InvalidEvent, parse_inbound

PAID = rome(2026, 1, 10, 9, 30)


def test_a_longer_hold_window_keeps_the_hold_longer(ledger: Books) -> None:
    """Hold window 45 days: due_by moves, and the 30-day mark releases nothing."""
    ledger = ledger.under(Policy(hold_window_days=45))
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", PAID),
        fail("MI0001", rome(2026, 1, 11)),
        transfer("R1", CUSTOMER, "MI0100", "150.00", rome(2026, 6, 1)),
    )

    assert ledger.only("topup.required")["due_by"] == "2026-07-16T10:00:00+02:00"
    ledger.sweep("holds", rome(2026, 7, 1))
    assert ledger.data("hold.released") == []
    ledger.sweep("holds", rome(2026, 7, 16))
    assert ledger.only("hold.released")["released"] == "100.00"


def test_a_shorter_spid_window_cancels_sooner(ledger: Books) -> None:
    """SPID activation within 60 days: cancelled at day 60, not 90."""
    ledger = ledger.under(Policy(spid_activation_days=60))
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    ledger.sweep("spid_timeout", rome(2026, 3, 11, 9, 30))

    assert ledger.only("spid.order_cancelled")["cancelled_at"] == "2026-03-11T09:30:00+01:00"


def test_spid_credit_may_be_anchored_on_the_cancellation(ledger: Books) -> None:
    """Anchor cancelled_at: the 12 months run from day 90, not from the payment."""
    ledger = ledger.under(Policy(spid_credit_anchor="cancelled_at"))
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    ledger.sweep("spid_timeout", rome(2026, 4, 10, 9, 30))

    assert ledger.only("spid.order_cancelled")["expires_at"] == "2027-04-10T09:30:00+02:00"
    ledger.sweep("expiry", rome(2027, 1, 10, 9, 30))
    assert ledger.data("credit.expired") == []


def test_the_validity_is_a_number_of_months(ledger: Books) -> None:
    """Six months of validity: a 31 August payment expires on 28 February."""
    ledger = ledger.under(Policy(credit_validity_months=6))
    ledger.record(
        pay("MI0001", CUSTOMER, "10.00", rome(2026, 8, 31)), fail("MI0001", rome(2026, 9, 1))
    )

    assert ledger.only("credit.granted")["expires_at"] == "2027-02-28T10:00:00+01:00"


def test_reminder_offsets_are_settings(ledger: Books) -> None:
    """Reminders at 14 days only: nothing at 30 or 7, one at 14."""
    ledger = ledger.under(Policy(credit_reminder_days=(14,)))
    ledger.record(pay("MI0001", CUSTOMER, "10.00", PAID), fail("MI0001", rome(2026, 1, 11)))

    for as_of in (rome(2026, 12, 11, 9, 30), rome(2026, 12, 27, 9, 30), rome(2027, 1, 3, 9, 30)):
        ledger.sweep("reminders", as_of)

    assert [each["days_left"] for each in ledger.data("credit.expiring_soon")] == [14]


def test_refundable_origins_are_a_setting(ledger: Books) -> None:
    """If activation-failed credit is made refundable, it is refunded on request."""
    ledger = ledger.under(
        Policy(refundable_origins=frozenset({"spid_timeout", "activation_failed"}))
    )
    ledger.record(pay("MI0001", CUSTOMER, "10.00", PAID), fail("MI0001", rome(2026, 1, 11)))

    ledger.record(refund("R1", CUSTOMER, rome(2026, 2, 1)))

    assert ledger.only("credit.granted")["refundable"] is True
    assert ledger.only("refund.requested")["amount"] == "10.00"


def test_purposes_each_origin_may_pay_are_a_setting(ledger: Books) -> None:
    """Allowing modifications for SPID credit lets it pay one."""
    purposes = dict(Policy().origin_purposes)
    purposes["spid_timeout"] = frozenset({"purchase", "renewal", "modification"})
    ledger = ledger.under(Policy(origin_purposes=purposes))
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 10, 9, 30))

    ledger.record(
        transfer("R1", CUSTOMER, "MI0100", "10.00", rome(2026, 5, 1), purpose="modification")
    )

    assert ledger.only("credit.applied")["applied"] == "10.00"


def test_the_currency_is_a_setting(ledger: Books) -> None:
    """A CHF ledger books CHF events, and an EUR amount is refused on its wire."""
    ledger = ledger.under(Policy(currency="CHF"))

    ledger.record(
        pay("MI0001", CUSTOMER, "10.00", PAID, currency="CHF"),
        fail("MI0001", rome(2026, 1, 11)),
        transfer("R1", CUSTOMER, "MI0100", "4.00", rome(2026, 2, 1), currency="CHF"),
    )

    assert ledger.only("credit.applied")["available_after"] == "6.00"
    in_euros = pay("MI0002", CUSTOMER, "10.00", PAID).model_dump_json()
    with pytest.raises(InvalidEvent, match="CHF"):
        parse_inbound(in_euros, currency=ledger.policy.currency)


def test_the_business_time_zone_is_a_setting(ledger: Books) -> None:
    """In New York, 23:30 on 31 January plus one month is 28 February at 23:30 there,
    although in Rome the payment was already on 1 February."""
    new_york = ZoneInfo("America/New_York")
    ledger = ledger.under(Policy(business_timezone="America/New_York", credit_validity_months=1))
    paid = datetime(2026, 1, 31, 23, 30, tzinfo=new_york)

    ledger.record(pay("MI0001", CUSTOMER, "10.00", paid), fail("MI0001", paid + timedelta(hours=1)))

    assert ledger.only("credit.granted")["expires_at"] == "2026-02-28T23:30:00-05:00"
