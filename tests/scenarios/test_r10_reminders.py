"""R10: credit.expiring_soon at 30 and 7 days before a credit with a remaining balance
expires, spid.deadline_approaching at 30 and 7 days before a SPID activation deadline;
each reminder at most once. A sweep that missed days sends only the closest reminder."""

from datetime import datetime, timedelta

import pytest
from scenarios.kit import CUSTOMER, Books, activate, fail, pay, rome, transfer

PAID = rome(2026, 1, 10, 9, 30)
EXPIRES = rome(2027, 1, 10, 9, 30)
THIRTY_DAYS_BEFORE = rome(2026, 12, 11, 9, 30)
SEVEN_DAYS_BEFORE = rome(2027, 1, 3, 9, 30)
SPID_DEADLINE = rome(2026, 4, 10, 9, 30)


@pytest.fixture
def with_credit(ledger: Books) -> Books:
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 1, 11)))
    return ledger


def daily(start: datetime, end: datetime) -> list[datetime]:
    """A sweep every day at 02:00 Rome time from `start` to `end`."""
    days, first = [], start.replace(hour=2, minute=0)
    while first <= end:
        days.append(first)
        first = (first + timedelta(days=1)).replace(hour=2)
    return days


def test_thirty_days_before_expiry_the_customer_is_reminded(with_credit: Books) -> None:
    """At the 30-day mark: remaining balance, expiry and days left."""
    ledger = with_credit

    ledger.sweep("reminders", THIRTY_DAYS_BEFORE)

    assert ledger.only("credit.expiring_soon") == {
        "customer_id": CUSTOMER,
        "credit_id": "CR-MI0001",
        "remaining": "100.00",
        "expires_at": "2027-01-10T09:30:00+01:00",
        "days_left": 30,
    }


def test_no_reminder_before_the_thirty_day_mark(with_credit: Books) -> None:
    """On the day before the 30-day mark, however late, nothing is sent."""
    ledger = with_credit

    ledger.sweep("reminders", rome(2026, 12, 10, 23, 59))

    assert ledger.data("credit.expiring_soon") == []


def test_daily_sweeps_send_each_reminder_exactly_once(with_credit: Books) -> None:
    """Sweeping every day for six weeks: one 30-day and one 7-day reminder, no more."""
    ledger = with_credit

    for as_of in daily(rome(2026, 12, 1), rome(2027, 1, 12)):
        ledger.sweep("reminders", as_of)

    assert [each["days_left"] for each in ledger.data("credit.expiring_soon")] == [30, 7]


def test_an_early_morning_sweep_reminds_on_the_day_not_a_day_late(with_credit: Books) -> None:
    """The daily sweep runs at 04:30, before the expiry's time of day (09:30): it still
    sends the 30-day reminder on the 30th day before, saying 30 days."""
    ledger = with_credit

    ledger.sweep("reminders", rome(2026, 12, 11, 4, 30))

    assert [each["days_left"] for each in ledger.data("credit.expiring_soon")] == [30]


def test_reminders_on_the_marks_say_thirty_and_seven_days(with_credit: Books) -> None:
    """Sweeps exactly at the marks report 30 and 7 days left."""
    ledger = with_credit

    for as_of in (
        THIRTY_DAYS_BEFORE,
        THIRTY_DAYS_BEFORE + timedelta(days=1),
        SEVEN_DAYS_BEFORE,
        SEVEN_DAYS_BEFORE + timedelta(hours=1),
    ):
        ledger.sweep("reminders", as_of)

    assert [each["days_left"] for each in ledger.data("credit.expiring_soon")] == [30, 7]


def test_a_catch_up_sends_only_the_closest_reminder(with_credit: Books) -> None:
    """The first sweep in weeks runs five days before expiry: only the 7-day reminder."""
    ledger = with_credit

    ledger.sweep("reminders", rome(2027, 1, 5))
    ledger.sweep("reminders", rome(2027, 1, 6))

    reminders = ledger.data("credit.expiring_soon")
    assert [each["days_left"] for each in reminders] == [5]


def test_the_reminder_tells_the_remaining_balance(with_credit: Books) -> None:
    """A partly used credit is reminded for what is left of it."""
    ledger = with_credit
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "65.00", rome(2026, 6, 1)))

    ledger.sweep("reminders", THIRTY_DAYS_BEFORE)

    assert ledger.only("credit.expiring_soon")["remaining"] == "35.00"


def test_no_reminder_for_credit_fully_used(with_credit: Books) -> None:
    """Nothing left, nothing to remind."""
    ledger = with_credit
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "100.00", rome(2026, 6, 1)))

    ledger.sweep("reminders", THIRTY_DAYS_BEFORE)
    ledger.sweep("reminders", SEVEN_DAYS_BEFORE)

    assert ledger.data("credit.expiring_soon") == []


def test_no_reminder_once_the_credit_has_expired(with_credit: Books) -> None:
    """A first sweep after the expiry sends no reminder, only the forfeiture."""
    ledger = with_credit

    ledger.sweep("all", EXPIRES + timedelta(days=1))

    assert ledger.data("credit.expiring_soon") == []
    assert len(ledger.data("credit.expired")) == 1


def test_spid_deadline_reminders_at_thirty_and_seven_days(ledger: Books) -> None:
    """An unactivated SPID order is reminded 30 and 7 days before its deadline, once each."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    for as_of in daily(rome(2026, 3, 1), rome(2026, 4, 9)):
        ledger.sweep("reminders", as_of)

    reminders = ledger.data("spid.deadline_approaching")
    assert reminders == [
        {
            "customer_id": CUSTOMER,
            "order_id": "SP0001",
            "deadline": "2026-04-10T09:30:00+02:00",
            "days_left": 30,
        },
        {
            "customer_id": CUSTOMER,
            "order_id": "SP0001",
            "deadline": "2026-04-10T09:30:00+02:00",
            "days_left": 7,
        },
    ]


def test_no_spid_reminder_for_an_activated_order(ledger: Books) -> None:
    """Activated SPID orders have no deadline to remind of."""
    ledger.record(
        pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"), activate("SP0001", rome(2026, 2, 1))
    )

    ledger.sweep("reminders", SPID_DEADLINE - timedelta(days=30))
    ledger.sweep("reminders", SPID_DEADLINE - timedelta(days=7))

    assert ledger.data("spid.deadline_approaching") == []


def test_spid_catch_up_sends_only_the_closest_reminder(ledger: Books) -> None:
    """First sweep three days before the deadline: only the 7-day reminder."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))

    ledger.sweep("reminders", SPID_DEADLINE - timedelta(days=3))
    ledger.sweep("reminders", SPID_DEADLINE - timedelta(days=2))

    assert [each["days_left"] for each in ledger.data("spid.deadline_approaching")] == [3]


def test_reminders_are_per_credit(ledger: Books) -> None:
    """Two credits expiring together each get their own reminder."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", PAID),
        fail("MI0001", rome(2026, 1, 11)),
        pay("MI0002", CUSTOMER, "20.00", PAID),
        fail("MI0002", rome(2026, 1, 11)),
    )

    ledger.sweep("reminders", THIRTY_DAYS_BEFORE)
    ledger.sweep("reminders", THIRTY_DAYS_BEFORE + timedelta(days=1))

    reminded = sorted(each["credit_id"] for each in ledger.data("credit.expiring_soon"))
    assert reminded == ["CR-MI0001", "CR-MI0002"]


def test_no_reminder_for_a_credit_granted_after_the_sweeps_as_of(ledger: Books) -> None:
    """A credit granted at 12:00 (its activation.failed processed late, before a
    catch-up) did not exist at the 04:30 sweep of that day: that sweep reminds nobody
    of it, and the next day's sweep sends the reminder, dated then."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2025, 5, 10, 10)),
        fail("MI0001", rome(2026, 5, 3, 12)),
    )

    ledger.sweep("reminders", rome(2026, 5, 3, 4, 30))
    assert ledger.data("credit.expiring_soon") == []

    ledger.sweep("reminders", rome(2026, 5, 4, 4, 30))
    (reminder,) = ledger.notifications("credit.expiring_soon")
    assert (reminder.time, reminder.data["days_left"]) == ("2026-05-04T04:30:00+02:00", 6)
