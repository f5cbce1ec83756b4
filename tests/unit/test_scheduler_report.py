"""What the scheduler says about time: its next run at start, each run sent (catch-up or
not), each run it sent completed with its counts, the next run once the day is done."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from scheduler.plan import DueRun, Schedule, as_of_for
from scheduler.report import SchedulerMetrics, SchedulerReport
from scheduler.runs import RunRecord
from scheduler.service import Action, Tick

ROME = ZoneInfo("Europe/Rome")
SCHEDULE = Schedule(run_at=time(4, 30), zone=ROME, kinds=("expiry", "reminders"))
DAY = date(2026, 5, 4)
RUN_TIME = as_of_for(DAY, SCHEDULE)
NEXT_RUN_TIME = as_of_for(DAY + timedelta(days=1), SCHEDULE)


def rome(hour: int, minute: int = 0, day: int = 4) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=ROME)


def due(kind: str, day: date = DAY) -> DueRun:
    return DueRun(day, SCHEDULE.kinds.index(kind), kind, as_of_for(day, SCHEDULE))


def completed(run: DueRun, counts: dict[str, int]) -> RunRecord:
    claimed = run.as_of
    return RunRecord(
        kind=run.kind,
        business_date=run.business_date,
        as_of=run.as_of,
        status="completed",
        claimed_at=claimed,
        sent_at=claimed,
        send_count=1,
        started_at=claimed,
        progress_at=claimed + timedelta(seconds=40),
        completed_at=claimed + timedelta(seconds=42),
        chunks_total=3,
        chunks_done=3,
        counts=counts,
        cents={"forfeited": 12_000} if counts else {},
    )


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def logs() -> Iterator[list[Any]]:
    with capture_logs() as captured:
        yield captured


def report_at(started_at: datetime, registry: CollectorRegistry) -> SchedulerReport:
    return SchedulerReport(SCHEDULE, started_at=started_at, metrics=SchedulerMetrics(registry))


def after_start(logs: list[Any]) -> list[Any]:
    """The lines after ``scheduler started``, which the first tick told."""
    started, *rest = logs
    assert started["event"] == "scheduler started"
    return rest


def test_at_start_it_says_when_the_next_run_is(
    registry: CollectorRegistry, logs: list[Any]
) -> None:
    """Started at 20:00 with the day's runs done, the next run is tomorrow at 04:30,
    Rome time with its offset."""
    report_at(rome(20, day=3), registry).ticked(Tick(Action.IDLE, None, RUN_TIME), rome(20, day=3))

    line, _ = logs
    assert line["event"] == "scheduler started"
    assert line["next_run_at"] == "2026-05-04T04:30:00+02:00"
    assert line["run_at"] == "04:30:00"
    assert line["zone"] == "Europe/Rome"
    next_run = registry.get_sample_value("residuo_scheduler_next_run_timestamp_seconds")
    assert next_run == RUN_TIME.timestamp()


def test_a_day_of_runs_sent_on_time_then_completed_then_the_next_run(
    registry: CollectorRegistry, logs: list[Any]
) -> None:
    """Each run sent (no catch-up), each completion with its counts once the next
    tick sees it, and once all are done the next run time."""
    report = report_at(rome(20, day=3), registry)
    expiry, reminders = due("expiry"), due("reminders")
    done_expiry = completed(expiry, {"forfeited": 2})

    report.ticked(Tick(Action.SENT, expiry, rome(4, 30, 10)), rome(4, 30))
    report.ticked(Tick(Action.WAITING, expiry, rome(4, 30, 20)), rome(4, 30, 10))
    report.ticked(Tick(Action.SENT, reminders, rome(4, 31), completed=(done_expiry,)), rome(4, 31))
    done = (done_expiry, completed(reminders, {"credit_expiring_soon": 1}))
    report.ticked(Tick(Action.IDLE, None, NEXT_RUN_TIME, completed=done), rome(4, 32))
    report.ticked(Tick(Action.IDLE, None, NEXT_RUN_TIME, completed=done), rome(4, 33))

    logs = after_start(logs)
    assert [(line["event"], line.get("kind")) for line in logs] == [
        ("sweep run sent", "expiry"),
        ("sweep run completed", "expiry"),
        ("sweep run sent", "reminders"),
        ("sweep run completed", "reminders"),
        ("sweep runs done", None),
    ]
    sent = logs[0]
    assert sent["catch_up"] is False
    assert sent["as_of"] == "2026-05-04T04:30:00+02:00"
    assert sent["business_date"] == "2026-05-04"
    finished = logs[1]
    assert finished["counts"] == {"forfeited": 2}
    assert finished["cents"] == {"forfeited": 12_000}
    assert finished["chunks"] == 3
    assert finished["seconds_since_claimed"] == 42
    assert logs[-1]["next_run_at"] == "2026-05-05T04:30:00+02:00"

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("residuo_scheduler_runs_sent_total", kind="expiry", catch_up="false") == 1
    assert sample("residuo_scheduler_runs_completed_total", kind="reminders") == 1
    assert sample("residuo_scheduler_last_tick_timestamp_seconds") == rome(4, 33).timestamp()
    assert sample("residuo_scheduler_next_run_timestamp_seconds") == NEXT_RUN_TIME.timestamp()


def test_a_run_due_before_the_start_is_sent_as_a_catch_up(
    registry: CollectorRegistry, logs: list[Any]
) -> None:
    """Started at 09:00: the day's 04:30 run goes out at once, and says it is late."""
    report = report_at(rome(9), registry)

    report.ticked(Tick(Action.SENT, due("expiry"), rome(9, 0, 10)), rome(9))

    (line,) = after_start(logs)
    assert line["event"] == "sweep run sent (catch-up)"
    assert line["catch_up"] is True
    catch_ups = registry.get_sample_value(
        "residuo_scheduler_runs_sent_total", {"kind": "expiry", "catch_up": "true"}
    )
    assert catch_ups == 1


def test_only_runs_this_scheduler_sent_are_reported_completed(
    registry: CollectorRegistry, logs: list[Any]
) -> None:
    """A replica that waited while another sent the run says nothing of its end."""
    report = report_at(rome(20, day=3), registry)
    other = completed(due("expiry"), {"forfeited": 1})

    report.ticked(Tick(Action.IDLE, None, NEXT_RUN_TIME, completed=(other,)), rome(5))

    assert [line["event"] for line in after_start(logs)] == ["sweep runs done"]


def test_a_silent_run_sent_again_is_a_warning_and_its_end_is_reported(
    registry: CollectorRegistry, logs: list[Any]
) -> None:
    """Sent again with how far it had got; its completion is then this replica's to tell."""
    report = report_at(rome(20, day=3), registry)
    run = due("expiry")
    stuck = replace(completed(run, {}), status="started", completed_at=None, chunks_done=1)

    report.ticked(Tick(Action.RESENT, run, rome(5, 1), record=stuck), rome(5))
    report.ticked(
        Tick(Action.IDLE, None, NEXT_RUN_TIME, completed=(completed(run, {"forfeited": 3}),)),
        rome(5, 2),
    )

    resent, finished, done = after_start(logs)
    assert resent["event"] == "silent sweep run sent again"
    assert resent["log_level"] == "warning"
    assert (resent["chunks_done"], resent["chunks_total"]) == (1, 3)
    assert finished["event"] == "sweep run completed"
    assert done["event"] == "sweep runs done"
    resends = registry.get_sample_value("residuo_scheduler_runs_resent_total", {"kind": "expiry"})
    assert resends == 1


def test_a_failed_tick_is_logged_and_counted(registry: CollectorRegistry, logs: list[Any]) -> None:
    """The database away: one error line, one more failure counted."""
    report = report_at(rome(20, day=3), registry)

    report.failed(OSError("connection refused"))

    (line,) = after_start(logs)
    assert line["event"] == "scheduler tick failed; trying again"
    assert line["log_level"] == "error"
    assert registry.get_sample_value("residuo_scheduler_tick_failures_total") == 1


def test_started_after_the_days_run_time_the_next_run_is_the_late_one(
    registry: CollectorRegistry, logs: list[Any]
) -> None:
    """attack10 (written reproduction): started at 12:53 with the day's runs not done,
    the scheduler said the next run was tomorrow at 04:30 and sent today's in the same
    second. The next run is today's, late: its start line and gauge say 04:30 today."""
    report = report_at(rome(12, 53), registry)

    report.ticked(Tick(Action.SENT, due("expiry"), rome(12, 53, 10)), rome(12, 53))

    started, sent = logs
    assert started["event"] == "scheduler started"
    assert started["next_run_at"] == "2026-05-04T04:30:00+02:00"
    assert sent["event"] == "sweep run sent (catch-up)"
    next_run = registry.get_sample_value("residuo_scheduler_next_run_timestamp_seconds")
    assert next_run == RUN_TIME.timestamp()


def test_the_next_run_stays_the_oldest_missed_day_until_the_catch_up_is_done(
    registry: CollectorRegistry, logs: list[Any]
) -> None:
    """Two days missed: while the first missed day's run is in flight, the next run is
    that day's (two days ago); once every run is done, tomorrow's."""
    report = report_at(rome(9), registry)
    missed = due("expiry", DAY - timedelta(days=2))
    sample = "residuo_scheduler_next_run_timestamp_seconds"

    report.ticked(Tick(Action.WAITING, missed, rome(9, 0, 10)), rome(9))
    assert registry.get_sample_value(sample) == missed.as_of.timestamp()
    report.ticked(Tick(Action.IDLE, None, NEXT_RUN_TIME), rome(9, 30))
    assert registry.get_sample_value(sample) == NEXT_RUN_TIME.timestamp()

    assert logs[0]["next_run_at"] == "2026-05-02T04:30:00+02:00"
    assert [line["event"] for line in logs].count("scheduler started") == 1


def test_a_first_tick_that_fails_starts_with_the_next_run_unknown(
    registry: CollectorRegistry, logs: list[Any]
) -> None:
    """The database away at start: which runs are done cannot be read, so the start
    line says the next run is unknown and the gauge is not set; the first tick that
    reads the runs sets it, and the start is not told twice."""
    report = report_at(rome(9), registry)
    sample = "residuo_scheduler_next_run_timestamp_seconds"

    report.failed(OSError("connection refused"))
    assert registry.get_sample_value(sample) == 0
    report.ticked(Tick(Action.SENT, due("expiry"), rome(9, 0, 20)), rome(9, 0, 10))

    started, failed, sent = logs
    assert (started["event"], started["next_run_at"]) == ("scheduler started", None)
    assert failed["event"] == "scheduler tick failed; trying again"
    assert sent["event"] == "sweep run sent (catch-up)"
    assert registry.get_sample_value(sample) == RUN_TIME.timestamp()
