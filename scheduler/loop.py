"""The scheduler's loop: tick, report, sleep until the tick's wake time, until stopped.

Ticks are never further apart than ``_LONGEST_NAP`` plus a tick's own time, so a
scheduler whose last successful tick is older than ``READY_BOUND`` (twice that nap)
is not ticking: ``scheduler.health`` reads it so.
"""

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import structlog
from dramatiq.errors import BrokerError
from sqlalchemy.exc import SQLAlchemyError

from scheduler.health import SchedulerHealth
from scheduler.report import SchedulerMetrics, SchedulerReport
from scheduler.service import Scheduler

__all__ = ["READY_BOUND", "serve"]

Clock = Callable[[], datetime]

# However far the next run time, look again at least this often: a wall clock that
# jumps (NTP, a suspended VM) must not leave the scheduler asleep past a run.
_LONGEST_NAP: Final = timedelta(seconds=60)
# One tick late (a slow send, a slow database) is tolerated, two are not.
READY_BOUND: Final = 2 * _LONGEST_NAP

_logger = structlog.get_logger(__name__)


def serve(
    scheduler: Scheduler,
    *,
    clock: Clock,
    stop: threading.Event,
    metrics: SchedulerMetrics,
    health: SchedulerHealth,
) -> None:
    """Tick until ``stop`` is set, sleeping until each tick's wake time; what each tick
    did is logged and counted (``scheduler.report``) and told to ``health``.

    A database or broker that is down is logged and tried again after the poll
    interval: a claim whose message could not be sent is re-sent once silent.
    """
    report = SchedulerReport(scheduler.schedule, started_at=clock(), metrics=metrics)
    while not stop.is_set():
        now = clock()
        try:
            tick = scheduler.tick(now)
        except (SQLAlchemyError, BrokerError, OSError) as error:
            report.failed(error)
            health.failed(error)
            wake_at = now + scheduler.poll_every
        else:
            report.ticked(tick, now)
            health.ticked(tick)
            wake_at = tick.wake_at
        nap = min(max(wake_at - clock(), timedelta(0)), _LONGEST_NAP)
        stop.wait(nap.total_seconds())
    _logger.info("scheduler stopped")
