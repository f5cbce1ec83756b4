"""When the daily sweeps fall due: pure calendar arithmetic, no clock and no database.

A *business date* is a calendar day in the business time zone (Europe/Rome). Its
sweeps run at the configured local run time; their ``as_of`` is that date at that
wall-clock time. The default, 04:30, lies outside the 02:00–03:00 window in which
Europe/Rome changes its clocks, so every business date has exactly one run time: no
spring night skips a run, no autumn night repeats one. A run time configured inside
that window still gives one run per date, resolved as every wall-clock deadline of
the ledger is (``ledger.calendar``): a time in the spring gap moves forward by the
gap, a repeated autumn time takes its first occurrence.

Catch-up is a list, not a special case: after an outage every business date since
the last one that ran is due again, oldest first, each at its own ``as_of``. The
kinds a schedule names ``latest_only`` (the reminders) are the exception: they are
due for the latest due date alone, so a catch-up skips them for the days long gone,
and a skipped run is never due again (the resume point moves past its date).
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ledger import calendar

__all__ = [
    "DueRun",
    "Schedule",
    "as_of_for",
    "due_runs",
    "is_catch_up",
    "latest_due_date",
    "next_run_at",
]


@dataclass(frozen=True, slots=True)
class Schedule:
    """The daily sweeps: which kinds, in which order, at what local time, in which zone.

    ``latest_only`` kinds run for the latest due date only, never for a date a
    catch-up replays: a reminder is for the customer's today, and one judged on a
    past day would speak of books as they were not (a credit not granted yet, a hold
    since released by a late event).
    """

    run_at: time
    zone: ZoneInfo
    kinds: Sequence[str]
    latest_only: Collection[str] = ()

    def __post_init__(self) -> None:
        if self.run_at.tzinfo is not None:
            raise ValueError("run_at is a wall-clock time in the business zone: give no offset")
        if not self.kinds:
            raise ValueError("a schedule runs at least one sweep kind")
        if unknown := set(self.latest_only) - set(self.kinds):
            raise ValueError(f"latest_only names kinds the schedule lacks: {sorted(unknown)}")


@dataclass(frozen=True, slots=True, order=True)
class DueRun:
    """One sweep of one kind for one business date: the run key and its business time.

    Ordered by date, then by the position of its kind in the schedule (the ledger's
    dependency order), which is the order runs are dispatched in.
    """

    business_date: date
    rank: int
    kind: str
    as_of: datetime


def as_of_for(business_date: date, schedule: Schedule) -> datetime:
    """``business_date`` at the run time, in the business zone (aware, in UTC)."""
    # fold=0 reads a gap time with the pre-transition offset, which lands it one
    # gap-length later on the real clock, and picks the first of two repeated times.
    wall = datetime.combine(business_date, schedule.run_at).replace(tzinfo=schedule.zone, fold=0)
    return wall.astimezone(UTC)


def latest_due_date(now: datetime, schedule: Schedule) -> date:
    """The newest business date whose run time is at or before ``now``."""
    today = calendar.business_date(now, schedule.zone)
    return today if as_of_for(today, schedule) <= now else today - timedelta(days=1)


def due_runs(now: datetime, schedule: Schedule, *, since: date | None) -> list[DueRun]:
    """Every run due at ``now`` from business date ``since`` (inclusive), in dispatch order.

    ``since`` is the newest business date that already has a run; None on a first
    start, when only the latest due date runs (the books need no sweep per day of
    their past: one sweep settles everything due by its ``as_of``). The schedule's
    ``latest_only`` kinds are due for the latest due date alone.
    """
    last = latest_due_date(now, schedule)
    first = last if since is None else since
    runs: list[DueRun] = []
    day = first
    while day <= last:
        as_of = as_of_for(day, schedule)
        runs.extend(
            DueRun(day, rank, kind, as_of)
            for rank, kind in enumerate(schedule.kinds)
            if day == last or kind not in schedule.latest_only
        )
        day += timedelta(days=1)
    return runs


def next_run_at(now: datetime, schedule: Schedule) -> datetime:
    """The first run time strictly after ``now``."""
    return as_of_for(latest_due_date(now, schedule) + timedelta(days=1), schedule)


def is_catch_up(run: DueRun, *, now: datetime, started_at: datetime, schedule: Schedule) -> bool:
    """Whether sending ``run`` at ``now`` is a catch-up: a later business date's run
    time has come already (days were missed), or the run's time came before the
    scheduler that sends it started (nobody was there to send it on time)."""
    return run.business_date < latest_due_date(now, schedule) or run.as_of < started_at
