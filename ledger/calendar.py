"""Business-calendar arithmetic: deadlines in the provider's wall-clock time.

"Twelve months from payment" and "90 days from payment" are wall-clock rules in the
business time zone (Europe/Rome by default), not fixed durations: a credit paid at
10:00 in winter expires at 10:00 in summer. Two edge cases need a decision:

* a day that does not exist in the target month clamps to that month's last day
  (paid 2024-02-29 → 2025-02-28, paid 31 March + 1 month → 30 April);
* a wall-clock time that falls in the spring-forward gap (02:00–03:00 on the last
  Sunday of March) does not exist: it moves forward by the gap, as a clock would
  (02:30 → 03:30 CEST); a time repeated in the autumn fall-back takes its first
  occurrence (``fold=0``, the earlier instant), so a deadline is never later than
  the wall-clock reading promises.

All instants returned are timezone-aware and in UTC, the storage convention.
"""

import calendar
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "FIRST_REPRESENTABLE",
    "LAST_REPRESENTABLE",
    "add_calendar_days",
    "add_calendar_months",
    "business_date",
    "representable",
    "require_aware",
    "wall_clock",
]

# Python's datetimes run from year 1 to year 9999; a day's margin at each end keeps
# the reading of an instant in any zone (up to 14 hours from UTC) inside the calendar.
FIRST_REPRESENTABLE: Final = datetime(1, 1, 2, tzinfo=UTC)
"""The earliest instant every calculation of residuo's can start from."""
LAST_REPRESENTABLE: Final = datetime(9999, 12, 30, tzinfo=UTC)
"""The latest instant every calculation of residuo's can start from."""


def require_aware(instant: datetime) -> datetime:
    """``instant`` unchanged, or ValueError if it is naive (naive times are ambiguous)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant.isoformat()} has no offset")
    return instant


def representable(instant: datetime) -> bool:
    """Whether ``instant`` (aware) lies within [FIRST_REPRESENTABLE, LAST_REPRESENTABLE]:
    read in any zone, and a day either way, it is still a date."""
    try:
        return FIRST_REPRESENTABLE <= require_aware(instant) <= LAST_REPRESENTABLE
    except OverflowError:
        # Comparing converts to UTC, which an instant at the calendar's very edge leaves.
        return False


def _resolve_wall_clock(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock reading in ``zone``, gaps moved forward."""
    # fold=0 reads a gap time with the pre-transition offset, which lands it one
    # gap-length later on the real clock, and picks the first of two repeated times.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def wall_clock(instant: datetime, zone: ZoneInfo) -> datetime:
    """``instant`` (aware) as the clocks of ``zone`` showed it. A datetime already in
    ``zone`` goes through UTC first: ``astimezone`` converts any other but leaves that
    one as it is, so an instant given as a reading in the spring-forward gap (02:30 on
    the last Sunday of March, the instant of 03:30 CEST) would be taken at its word,
    and the same instant would fall due, be dated or be shown an hour apart depending
    on how it was spelled. ValueError if ``instant`` is naive."""
    aware = require_aware(instant)
    if aware.tzinfo is zone:
        aware = aware.astimezone(UTC)
    return aware.astimezone(zone)


def add_calendar_months(instant: datetime, months: int, zone: ZoneInfo) -> datetime:
    """``instant`` + ``months`` calendar months at the same wall-clock time in ``zone``."""
    local = wall_clock(instant, zone)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    wall = local.replace(tzinfo=None, year=year, month=month, day=day)
    return _resolve_wall_clock(wall, zone)


def add_calendar_days(instant: datetime, days: int, zone: ZoneInfo) -> datetime:
    """``instant`` + ``days`` calendar days at the same wall-clock time in ``zone``."""
    local = wall_clock(instant, zone)
    wall = local.replace(tzinfo=None) + timedelta(days=days)
    return _resolve_wall_clock(wall, zone)


# Cached: a sweep asks for the day of its ``as_of`` and of each deadline several times
# a row (the reminder rule, the days left), and a zone conversion costs about 1.5 µs.
# Equal keys always name the same day: aware datetimes are equal when they are the same
# instant, or, in the same zone, the same wall-clock reading.
@lru_cache(maxsize=4096)
def business_date(instant: datetime, zone: ZoneInfo) -> date:
    """The calendar day ``instant`` falls on in the business time zone. ValueError if
    ``instant`` is naive."""
    return wall_clock(instant, zone).date()
