"""When the daily sweeps fall due: one run per business date and kind, at the local run
time in Europe/Rome, DST nights included, and every missed date after an outage."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.plan import (
    DueRun,
    Schedule,
    as_of_for,
    due_runs,
    is_catch_up,
    latest_due_date,
    next_run_at,
)

ROME = ZoneInfo("Europe/Rome")
KINDS = ("spid_timeout", "holds", "expiry", "reminders")
DEFAULT = Schedule(run_at=time(4, 30), zone=ROME, kinds=KINDS, latest_only=("reminders",))


def rome(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ROME)


def simulate(schedule: Schedule, start: datetime, end: datetime) -> list[DueRun]:
    """A scheduler looking every 15 minutes from ``start`` to ``end``, remembering which
    runs it sent the way the database does: every run sent, in order, once."""
    return simulate_from([], start, end, schedule)


def simulate_from(
    sent: list[DueRun], start: datetime, end: datetime, schedule: Schedule = DEFAULT
) -> list[DueRun]:
    """``simulate``, resuming after the runs already ``sent``."""
    sent = list(sent)
    keys = {(run.kind, run.business_date) for run in sent}
    now = start
    while now <= end:
        since = max((run.business_date for run in sent), default=None)
        for run in due_runs(now, schedule, since=since):
            if (run.kind, run.business_date) not in keys:
                keys.add((run.kind, run.business_date))
                sent.append(run)
        now += timedelta(minutes=15)
    return sent


def test_as_of_is_the_business_date_at_the_local_run_time() -> None:
    """04:30 in Rome is 03:30 UTC in winter and 02:30 UTC in summer."""
    assert as_of_for(date(2026, 1, 15), DEFAULT) == datetime(2026, 1, 15, 3, 30, tzinfo=UTC)
    assert as_of_for(date(2026, 7, 15), DEFAULT) == datetime(2026, 7, 15, 2, 30, tzinfo=UTC)


def test_the_spring_forward_night_of_2026_runs_once() -> None:
    """29 March 2026 loses 02:00-03:00: its run still comes once, at 04:30 CEST, 23 hours
    after the previous one."""
    runs = simulate(DEFAULT, rome(2026, 3, 28, 5), rome(2026, 3, 30, 12))

    expiry = [run for run in runs if run.kind == "expiry"]
    assert [run.business_date for run in expiry] == [
        date(2026, 3, 28),
        date(2026, 3, 29),
        date(2026, 3, 30),
    ]
    assert expiry[1].as_of == rome(2026, 3, 29, 4, 30)
    assert expiry[1].as_of - expiry[0].as_of == timedelta(hours=23)
    assert len(runs) == 3 * len(KINDS)


def test_the_fall_back_night_of_2026_runs_once() -> None:
    """25 October 2026 repeats 02:00-03:00: its run comes once, at 04:30 CET, 25 hours
    after the previous one."""
    runs = simulate(DEFAULT, rome(2026, 10, 24, 5), rome(2026, 10, 26, 12))

    expiry = [run for run in runs if run.kind == "expiry"]
    assert [run.business_date for run in expiry] == [
        date(2026, 10, 24),
        date(2026, 10, 25),
        date(2026, 10, 26),
    ]
    assert expiry[1].as_of == datetime(2026, 10, 25, 3, 30, tzinfo=UTC)
    assert expiry[1].as_of - expiry[0].as_of == timedelta(hours=25)
    assert len(runs) == 3 * len(KINDS)


def test_a_run_time_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    """02:30 does not exist on 29 March 2026: that day runs at 03:30 CEST, once."""
    at_half_past_two = Schedule(run_at=time(2, 30), zone=ROME, kinds=("expiry",))

    runs = simulate(at_half_past_two, rome(2026, 3, 28, 3), rome(2026, 3, 30, 3))

    assert [run.as_of for run in runs] == [
        rome(2026, 3, 28, 2, 30),
        rome(2026, 3, 29, 3, 30),
        rome(2026, 3, 30, 2, 30),
    ]


def test_a_run_time_in_the_repeated_autumn_hour_takes_its_first_occurrence() -> None:
    """02:30 happens twice on 25 October 2026: the day runs at the first (CEST), once."""
    at_half_past_two = Schedule(run_at=time(2, 30), zone=ROME, kinds=("expiry",))

    runs = simulate(at_half_past_two, rome(2026, 10, 24, 3), rome(2026, 10, 26, 3))

    assert [run.business_date for run in runs] == [
        date(2026, 10, 24),
        date(2026, 10, 25),
        date(2026, 10, 26),
    ]
    assert runs[1].as_of == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_after_an_outage_every_missed_date_is_due_oldest_first() -> None:
    """Last run on 1 May, back on 4 May at 10:00: 1 (to finish), 2, 3 and 4 May are due,
    each date's kinds in the ledger's dependency order, each at its own as_of; the
    reminders only for 4 May, the latest due date."""
    runs = due_runs(rome(2026, 5, 4, 10), DEFAULT, since=date(2026, 5, 1))

    assert [(run.business_date.day, run.kind) for run in runs] == [
        (day, kind) for day in (1, 2, 3) for kind in KINDS[:-1]
    ] + [(4, kind) for kind in KINDS]
    assert runs == sorted(runs)
    assert {run.as_of for run in runs} == {rome(2026, 5, day, 4, 30) for day in (1, 2, 3, 4)}


def test_a_catch_up_never_comes_back_for_the_reminders_it_skipped() -> None:
    """A scheduler down from 1 May to 4 May 10:00, then looking every quarter of an hour
    until 6 May: the reminders of 2 and 3 May are never due, not even once the runs of
    those dates are on record; 5 and 6 May run every kind."""
    before = simulate(DEFAULT, rome(2026, 5, 1, 4, 30), rome(2026, 5, 1, 4, 45))
    sent = simulate_from(before, rome(2026, 5, 4, 10), rome(2026, 5, 6, 12))

    reminders = [run.business_date.day for run in sent if run.kind == "reminders"]
    assert reminders == [1, 4, 5, 6]
    assert [run.business_date.day for run in sent if run.kind == "expiry"] == [1, 2, 3, 4, 5, 6]


def test_latest_only_names_kinds_of_the_schedule() -> None:
    """A latest-only kind the schedule does not run is a mistake, refused."""
    with pytest.raises(ValueError, match="latest_only"):
        Schedule(run_at=time(4, 30), zone=ROME, kinds=("expiry",), latest_only=("reminders",))


def test_a_first_start_runs_only_the_latest_due_date() -> None:
    """With no run on record there is no past to catch up: one sweep settles it all."""
    runs = due_runs(rome(2026, 5, 4, 10), DEFAULT, since=None)

    assert {run.business_date for run in runs} == {date(2026, 5, 4)}


def test_before_the_run_time_the_latest_due_date_is_yesterday() -> None:
    """At 04:29 today's run is not due yet; at 04:30 it is."""
    assert latest_due_date(rome(2026, 5, 4, 4, 29), DEFAULT) == date(2026, 5, 3)
    assert latest_due_date(rome(2026, 5, 4, 4, 30), DEFAULT) == date(2026, 5, 4)


def test_the_next_run_time_is_strictly_later() -> None:
    """Right at a run time, the next one is tomorrow's."""
    assert next_run_at(rome(2026, 5, 4, 4, 30), DEFAULT) == rome(2026, 5, 5, 4, 30)
    assert next_run_at(rome(2026, 5, 4, 4, 29), DEFAULT) == rome(2026, 5, 4, 4, 30)


def test_a_naive_now_is_refused() -> None:
    """A time without an offset is ambiguous by an hour or two."""
    with pytest.raises(ValueError, match="naive"):
        due_runs(datetime(2026, 5, 4, 10), DEFAULT, since=None)


def test_a_run_time_with_an_offset_is_refused() -> None:
    """The run time is read on the business zone's wall clock, never with an offset."""
    with pytest.raises(ValueError, match="wall-clock"):
        Schedule(run_at=time(4, 30, tzinfo=UTC), zone=ROME, kinds=KINDS)


def test_a_run_sent_at_its_time_by_a_scheduler_already_running_is_no_catch_up() -> None:
    """Started the evening before, sending the 04:30 run at 04:30 (or its later kinds,
    once the earlier ones completed): punctual."""
    (run, *_) = due_runs(rome(2026, 5, 4, 4, 30), DEFAULT, since=None)

    for now in (rome(2026, 5, 4, 4, 30), rome(2026, 5, 4, 9)):
        assert not is_catch_up(run, now=now, started_at=rome(2026, 5, 3, 20), schedule=DEFAULT)


def test_a_run_due_before_the_scheduler_started_is_a_catch_up() -> None:
    """Started at 09:00, the day's 04:30 run is late: nobody was there to send it."""
    (run, *_) = due_runs(rome(2026, 5, 4, 9), DEFAULT, since=None)

    started = rome(2026, 5, 4, 9)
    assert is_catch_up(run, now=started, started_at=started, schedule=DEFAULT)


def test_a_run_of_a_day_before_the_latest_due_date_is_a_catch_up() -> None:
    """A scheduler running all along but unable to send for two days (database down):
    the runs of the days it missed are late, whenever it started."""
    runs = due_runs(rome(2026, 5, 4, 5), DEFAULT, since=date(2026, 5, 2))

    late = [
        run.business_date
        for run in runs
        if is_catch_up(run, now=rome(2026, 5, 4, 5), started_at=rome(2026, 4, 1), schedule=DEFAULT)
    ]
    assert set(late) == {date(2026, 5, 2), date(2026, 5, 3)}


def test_one_instant_has_one_latest_due_date_however_it_is_spelled() -> None:
    """Samoa skipped 30 December 2011 (UTC-10 to UTC+14): 12:00 "on" the 30th, a reading
    in that gap, is the instant 22:00 UTC, when Apia's clocks showed 12:00 on the 31st.
    Spelled either way, the 31st is the latest due date and the next run comes after
    ``now``, never at a run time already past."""
    apia = Schedule(run_at=time(4, 30), zone=ZoneInfo("Pacific/Apia"), kinds=KINDS)
    for now in (
        datetime(2011, 12, 30, 12, tzinfo=apia.zone),
        datetime(2011, 12, 30, 22, tzinfo=UTC),
    ):
        assert latest_due_date(now, apia) == date(2011, 12, 31)
        assert next_run_at(now, apia) > now
