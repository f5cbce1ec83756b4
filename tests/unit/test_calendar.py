"""Business-calendar arithmetic: "12 months" and "90 days" are wall-clock rules in Rome.

A deadline keeps the wall-clock time of the instant it starts from, whatever the
daylight-saving offset on either side; a day that does not exist in the target month
clamps to that month's last day; a time skipped by the spring-forward gap moves
forward by the gap, and a time repeated in the autumn takes its first occurrence.
"""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.calendar import (
    FIRST_REPRESENTABLE,
    LAST_REPRESENTABLE,
    add_calendar_days,
    add_calendar_months,
    business_date,
    representable,
    require_aware,
)

ROME = ZoneInfo("Europe/Rome")


def rome(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ROME)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_twelve_months_later_is_the_same_wall_clock_time() -> None:
    """A payment at 09:30 expires at 09:30 on the same date a year later."""
    assert add_calendar_months(rome(2026, 1, 10, 9, 30), 12, ROME) == rome(2027, 1, 10, 9, 30)


def test_results_are_in_utc() -> None:
    """Instants come back in UTC, the storage convention."""
    assert add_calendar_months(rome(2026, 1, 10, 9, 30), 12, ROME).tzinfo is UTC
    assert add_calendar_days(rome(2026, 1, 10, 9, 30), 90, ROME).tzinfo is UTC


def test_29_february_plus_twelve_months_clamps_to_28_february() -> None:
    """Paid 2024-02-29 → expires 2025-02-28, at the same time of day (SPEC R2)."""
    assert add_calendar_months(rome(2024, 2, 29, 9, 30), 12, ROME) == rome(2025, 2, 28, 9, 30)


def test_29_february_plus_four_years_is_29_february_again() -> None:
    """Clamping is per target month: a leap year's February has its 29th."""
    assert add_calendar_months(rome(2024, 2, 29), 48, ROME) == rome(2028, 2, 29)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (rome(2026, 1, 31), 1, rome(2026, 2, 28)),
        (rome(2028, 1, 31), 1, rome(2028, 2, 29)),
        (rome(2026, 3, 31), 1, rome(2026, 4, 30)),
        (rome(2026, 8, 31), 1, rome(2026, 9, 30)),
        (rome(2026, 12, 31), 2, rome(2027, 2, 28)),
        (rome(2026, 11, 30), 3, rome(2027, 2, 28)),
        (rome(2026, 12, 15), 1, rome(2027, 1, 15)),
    ],
)
def test_a_day_missing_from_the_target_month_clamps_to_its_last_day(
    start: datetime, months: int, expected: datetime
) -> None:
    """31 January + 1 month is the last day of February; months roll over the year."""
    assert add_calendar_months(start, months, ROME) == expected


def test_the_calendar_day_is_read_in_rome_not_in_the_offset_given() -> None:
    """23:30 UTC on 31 January is already 1 February in Rome: a month later is 1 March."""
    paid = utc(2026, 1, 31, 23, 30)  # 2026-02-01 00:30 in Rome
    assert add_calendar_months(paid, 1, ROME) == rome(2026, 3, 1, 0, 30)


def test_a_winter_payment_expires_at_the_same_time_in_summer() -> None:
    """90 days across the March change keeps 09:30: the UTC instant moves by an hour."""
    paid = rome(2026, 1, 10, 9, 30)  # 08:30 UTC
    deadline = add_calendar_days(paid, 90, ROME)
    assert deadline == rome(2026, 4, 10, 9, 30)
    assert deadline == utc(2026, 4, 10, 7, 30)
    assert deadline - paid == timedelta(days=90, hours=-1)


def test_a_summer_payment_keeps_its_time_across_the_october_change() -> None:
    """90 days from 10:00 CEST in August is 10:00 CET in November."""
    deadline = add_calendar_days(rome(2026, 8, 1, 10), 90, ROME)
    assert deadline == rome(2026, 10, 30, 10)
    assert deadline == utc(2026, 10, 30, 9)


def test_a_deadline_in_the_spring_forward_gap_moves_forward_by_the_gap() -> None:
    """2026-03-29 02:30 does not exist in Rome (02:00 → 03:00): the deadline is 03:30 CEST."""
    paid = datetime(2025, 3, 29, 2, 30, tzinfo=ROME)  # a Saturday, CET
    expiry = add_calendar_months(paid, 12, ROME)
    assert expiry == utc(2026, 3, 29, 1, 30)
    assert expiry.astimezone(ROME).isoformat() == "2026-03-29T03:30:00+02:00"


def test_ninety_days_landing_in_the_gap_also_moves_forward() -> None:
    """The SPID deadline of a payment at 02:30 on 29 December 2025 is 03:30 CEST."""
    deadline = add_calendar_days(datetime(2025, 12, 29, 2, 30, tzinfo=ROME), 90, ROME)
    assert deadline.astimezone(ROME).isoformat() == "2026-03-29T03:30:00+02:00"


def test_a_deadline_in_the_repeated_hour_takes_its_first_occurrence() -> None:
    """2026-10-25 02:30 happens twice in Rome: the earlier one (CEST, 00:30 UTC) counts."""
    paid = datetime(2025, 10, 25, 2, 30, tzinfo=ROME)  # CEST
    expiry = add_calendar_months(paid, 12, ROME)
    assert expiry == utc(2026, 10, 25, 0, 30)
    assert expiry.astimezone(ROME).isoformat() == "2026-10-25T02:30:00+02:00"


def test_the_second_occurrence_of_a_repeated_hour_still_lands_on_the_first() -> None:
    """A payment at 02:30 CET (the second 02:30 of 2026-10-25) reads as 02:30 a year on."""
    second = datetime(2026, 10, 25, 2, 30, tzinfo=ROME, fold=1)
    assert second.utcoffset() == timedelta(hours=1)
    expiry = add_calendar_months(second, 12, ROME)
    assert expiry.astimezone(ROME).replace(tzinfo=None) == datetime(2027, 10, 25, 2, 30)


@pytest.mark.parametrize(
    "spelled",
    [
        # The instant 01:30 UTC on 2026-03-29, spelled as a reading in the gap (Python
        # reads 02:30 with CET's offset), in CEST, in UTC and at a fixed offset.
        datetime(2026, 3, 29, 2, 30, tzinfo=ROME),
        datetime(2026, 3, 29, 3, 30, tzinfo=ROME),
        utc(2026, 3, 29, 1, 30),
        datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2))),
    ],
    ids=["gap-reading", "cest", "utc", "fixed-offset"],
)
def test_one_instant_falls_due_once_however_it_is_spelled(spelled: datetime) -> None:
    """An instant given as a reading in the spring-forward gap is the instant of 03:30
    CEST: its deadlines and its business date are those of 03:30 CEST, not of a 02:30
    taken at its word (found by the conservation model, whose clock stepped into the
    gap: the books, given the event's UTC offset, said one expiry, the model another)."""
    # (``==`` between zones is always False for a reading in a gap, by PEP 495.)
    assert spelled.astimezone(UTC) == utc(2026, 3, 29, 1, 30)
    assert add_calendar_months(spelled, 12, ROME) == utc(2027, 3, 29, 1, 30)
    assert add_calendar_days(spelled, 90, ROME) == utc(2026, 6, 27, 1, 30)
    assert business_date(spelled, ROME) == date(2026, 3, 29)


def test_days_can_be_counted_backwards_for_reminders() -> None:
    """Thirty days before a summer deadline, at the same wall-clock time in winter."""
    assert add_calendar_days(rome(2026, 4, 10, 9, 30), -30, ROME) == rome(2026, 3, 11, 9, 30)


def test_business_date_is_the_day_in_rome() -> None:
    """23:30 UTC on 31 December is New Year's Day in Rome."""
    assert business_date(utc(2026, 12, 31, 23, 30), ROME) == date(2027, 1, 1)


def test_naive_datetimes_are_refused() -> None:
    """A naive time is ambiguous: the calendar refuses it rather than guessing a zone."""
    with pytest.raises(ValueError, match="naive"):
        add_calendar_months(datetime(2026, 1, 10, 9, 30), 12, ROME)
    with pytest.raises(ValueError, match="naive"):
        add_calendar_days(datetime(2026, 1, 10, 9, 30), 90, ROME)
    assert require_aware(rome(2026, 1, 10)) == rome(2026, 1, 10)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (FIRST_REPRESENTABLE, True),
        (LAST_REPRESENTABLE, True),
        (LAST_REPRESENTABLE + timedelta(microseconds=1), False),
        (FIRST_REPRESENTABLE - timedelta(microseconds=1), False),
        # 12:00 at UTC-13 is 01:00 the next day in UTC: past the last instant.
        (datetime(9999, 12, 30, 12, tzinfo=timezone(timedelta(hours=-13))), False),
        # Converting these to UTC leaves the calendar altogether (OverflowError).
        (datetime.max.replace(tzinfo=timezone(timedelta(hours=-14))), False),
        (datetime(1, 1, 1, 10, tzinfo=timezone(timedelta(hours=14))), False),
    ],
    ids=str,
)
def test_an_instant_is_representable_a_day_inside_the_calendars_ends(
    instant: datetime, expected: bool
) -> None:
    """What a command accepts as a starting point: read in any zone, and a day either
    way, it is still a date Python can hold; past either end it is refused, never an
    OverflowError."""
    assert representable(instant) is expected


# Instants in the autumn fold and the spring gap, spelled in Rome, in UTC and at an odd
# offset: ``business_date`` keeps answers it gave, and must give each spelling its day.
_spellings = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.sampled_from([ROME, UTC, timezone(timedelta(hours=-11, minutes=-30))]),
)


@given(st.lists(_spellings, min_size=1, max_size=20))
def test_a_business_date_asked_again_is_the_day_of_the_instant_asked(
    instants: list[datetime],
) -> None:
    """The answer for an instant does not depend on what was asked before: readings
    in the autumn fold (equal in Python across ``fold``), the same instant in two zones
    and readings in the spring gap each get the day their instant falls on in Rome."""
    for instant in instants + instants[::-1]:
        assert business_date(instant, ROME) == instant.astimezone(UTC).astimezone(ROME).date()
        assert business_date(instant, UTC) == instant.astimezone(UTC).date()


def test_a_naive_instant_is_refused_every_time() -> None:
    """A refusal is not remembered as an answer: asked twice, refused twice."""
    for _ in range(2):
        with pytest.raises(ValueError, match="naive"):
            business_date(datetime(2026, 10, 25, 2, 30), ROME)
