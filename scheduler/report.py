"""What the scheduler says about time: its log lines and its Prometheus metrics.

One ``SchedulerReport`` follows one serve loop. It logs that the scheduler started,
once its first tick has read the runs (with the next run time), each run it sends
(``catch_up`` when the run is late: a day was missed, or its time came before this
scheduler started), each run it sent that completed (with its counts), a silent run
sent again, and the next run time each time the day's runs are done.

============================================================  =========  ==============
metric                                                        type       labels
============================================================  =========  ==============
``residuo_scheduler_runs_sent_total``                         counter    ``kind``,
                                                                         ``catch_up``
``residuo_scheduler_runs_resent_total``                       counter    ``kind``
``residuo_scheduler_runs_completed_total``                    counter    ``kind``
``residuo_scheduler_tick_failures_total``                     counter
``residuo_scheduler_last_tick_timestamp_seconds``             gauge      (Unix time)
``residuo_scheduler_next_run_timestamp_seconds``              gauge      (Unix time)
============================================================  =========  ==============

Completion is counted by the replica that sent the run (or last sent it again).

The *next run* is the earliest run not completed yet: while a run is due (sent,
waited for, sent again) it is that run, at its own time, in the past when it is late
(a catch-up); once the day's runs are done, the next day's run time. Only a tick
knows which runs are done, so the start is told after the first tick; a first tick
that failed tells it with ``next_run_at`` None (unknown), and the gauge stays 0 until
a tick succeeds.
"""

from datetime import date, datetime

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from ledger.calendar import wall_clock
from scheduler.plan import DueRun, Schedule, is_catch_up
from scheduler.runs import RunRecord
from scheduler.service import Action, Tick

__all__ = ["SchedulerMetrics", "SchedulerReport"]

_logger = structlog.get_logger(__name__)


class SchedulerMetrics:
    """The scheduler's counters and gauges, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "residuo_scheduler_runs_sent",
            "Sweep runs this scheduler sent; catch_up is true for a late one.",
            ("kind", "catch_up"),
            registry=registry,
        )
        self.resent = Counter(
            "residuo_scheduler_runs_resent",
            "Sweep runs sent again after they went silent.",
            ("kind",),
            registry=registry,
        )
        self.completed = Counter(
            "residuo_scheduler_runs_completed",
            "Sweep runs this scheduler sent that completed.",
            ("kind",),
            registry=registry,
        )
        self.tick_failures = Counter(
            "residuo_scheduler_tick_failures",
            "Ticks that failed (database or broker unreachable) and were tried again.",
            registry=registry,
        )
        self.last_tick = Gauge(
            "residuo_scheduler_last_tick_timestamp_seconds",
            "When the scheduler last looked at its runs successfully (Unix time).",
            registry=registry,
        )
        self.next_run = Gauge(
            "residuo_scheduler_next_run_timestamp_seconds",
            "When the earliest run not completed yet is due (Unix time): in the past "
            "while a late run is under way.",
            registry=registry,
        )


class SchedulerReport:
    """Logs and counts what one serve loop's ticks did (see the module).

    Parameters:
      schedule: the schedule the loop serves (its zone shows times in logs).
      started_at: when the loop started: a run due before then is a catch-up.
      metrics: where the samples go.
    """

    def __init__(
        self, schedule: Schedule, *, started_at: datetime, metrics: SchedulerMetrics
    ) -> None:
        self._schedule = schedule
        self._started_at = started_at
        self._metrics = metrics
        self._watching: set[tuple[str, date]] = set()
        self._idle = False
        self._told_start = False

    def ticked(self, tick: Tick, now: datetime) -> None:
        """Report ``tick``, taken at ``now`` (the first one tells the start too)."""
        upcoming = _next_run(tick)
        self._tell_start(upcoming)
        for record in tick.completed:
            self._completed(record)
        if tick.action is Action.SENT and tick.run is not None:
            self._sent(tick.run, now)
        elif tick.action is Action.RESENT and tick.run is not None:
            self._resent(tick.run, tick.record)
        elif tick.action is Action.IDLE and not self._idle:
            _logger.info("sweep runs done", next_run_at=self._local(tick.wake_at))
        self._idle = tick.action is Action.IDLE
        self._metrics.last_tick.set(now.timestamp())
        self._metrics.next_run.set(upcoming.timestamp())

    def failed(self, error: Exception) -> None:
        """A tick failed; the loop tries again at the next poll."""
        self._tell_start(None)
        self._metrics.tick_failures.inc()
        _logger.exception("scheduler tick failed; trying again", error=str(error))

    def _tell_start(self, upcoming: datetime | None) -> None:
        if self._told_start:
            return
        self._told_start = True
        _logger.info(
            "scheduler started",
            run_at=self._schedule.run_at.isoformat(),
            zone=str(self._schedule.zone),
            next_run_at=None if upcoming is None else self._local(upcoming),
        )

    def _sent(self, run: DueRun, now: datetime) -> None:
        catch_up = is_catch_up(run, now=now, started_at=self._started_at, schedule=self._schedule)
        self._watching.add((run.kind, run.business_date))
        self._metrics.sent.labels(run.kind, str(catch_up).lower()).inc()
        _logger.info(
            "sweep run sent (catch-up)" if catch_up else "sweep run sent",
            kind=run.kind,
            business_date=str(run.business_date),
            as_of=self._local(run.as_of),
            catch_up=catch_up,
        )

    def _resent(self, run: DueRun, record: RunRecord | None) -> None:
        self._watching.add((run.kind, run.business_date))
        self._metrics.resent.labels(run.kind).inc()
        _logger.warning(
            "silent sweep run sent again",
            kind=run.kind,
            business_date=str(run.business_date),
            chunks_done=record and record.chunks_done,
            chunks_total=record and record.chunks_total,
        )

    def _completed(self, record: RunRecord) -> None:
        key = (record.kind, record.business_date)
        if key not in self._watching:
            return
        self._watching.discard(key)
        self._metrics.completed.labels(record.kind).inc()
        took = record.completed_at - record.claimed_at if record.completed_at else None
        _logger.info(
            "sweep run completed",
            kind=record.kind,
            business_date=str(record.business_date),
            counts=record.counts,
            cents=record.cents,
            chunks=record.chunks_total,
            seconds_since_claimed=took and took.total_seconds(),
        )

    def _local(self, instant: datetime) -> str:
        return wall_clock(instant, self._schedule.zone).isoformat()


def _next_run(tick: Tick) -> datetime:
    """When the earliest run not completed yet is due, as ``tick`` found the runs."""
    # A run in hand is due until it completes; an idle tick wakes at the next run time.
    return tick.run.as_of if tick.run is not None else tick.wake_at
