"""``residuo scheduler``: the long-running process, wired from a bootstrapped runtime.

Runs are sent to the sweep actors on the runtime's broker (RabbitMQ in production),
as ``sweep_<kind>`` messages carrying the run's business date; the workers settle
them, and their notifications leave through the outbox like every other.
"""

from threading import Event

from ledger.sweeps import SWEEPS
from residuo.bootstrap import Runtime
from scheduler.health import SchedulerHealth
from scheduler.loop import READY_BOUND, serve
from scheduler.plan import DueRun, Schedule
from scheduler.report import SchedulerMetrics
from scheduler.service import Scheduler
from scheduler.settings import SchedulerSettings

__all__ = ["build_scheduler", "run_scheduler"]


def build_scheduler(runtime: Runtime, settings: SchedulerSettings) -> Scheduler:
    """A scheduler for every sweep kind, in the ledger's dependency order; reminders
    only for the latest due date (a catch-up sends none for the days it replays)."""

    def send(run: DueRun) -> None:
        message = runtime.actors.run_message(run.kind, run.business_date, run.as_of)
        runtime.broker.enqueue(message)

    schedule = Schedule(
        run_at=settings.run_at,
        zone=runtime.settings.policy.zone,
        kinds=tuple(SWEEPS),
        latest_only=("reminders",),
    )
    return Scheduler(
        runtime.engine,
        schedule,
        send,
        poll_every=settings.poll_every,
        resend_after=settings.resend_after,
    )


def run_scheduler(runtime: Runtime, settings: SchedulerSettings, *, stop: Event) -> None:
    """Tick until ``stop`` (``residuo.processes.stop_on_signals`` sets it on SIGTERM),
    counting into the runtime's registry; ready (``residuo_process_ready``) while the
    ticks succeed (``scheduler.health``)."""
    health = SchedulerHealth(bound=READY_BOUND)
    runtime.readiness.require(health.ready)
    serve(
        build_scheduler(runtime, settings),
        clock=runtime.clock,
        stop=stop,
        metrics=SchedulerMetrics(runtime.registry),
        health=health,
    )
