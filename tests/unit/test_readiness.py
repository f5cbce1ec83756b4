"""Readiness (``residuo_process_ready``): heartbeats, consumers attached, the
scheduler's ticks, and the gauge that reads them, on a clock the tests move."""

from datetime import UTC, datetime, timedelta

from dramatiq.errors import ConnectionClosed
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from residuo.telemetry import READY_METRIC, Readiness
from scheduler.health import SchedulerHealth
from scheduler.service import Action, Tick
from workers.heartbeat import Heartbeat
from workers.rabbitmq.attachments import ConsumerAttachments


class Clock:
    """Seconds on a monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def ready_samples(registry: CollectorRegistry) -> list[float]:
    text = generate_latest(registry).decode()
    return [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == READY_METRIC
    ]


def test_a_heartbeat_is_alive_from_a_beat_until_it_is_too_old() -> None:
    """Not alive before the first beat; alive up to ``within`` after one, not past it."""
    clock = Clock()
    heartbeat = Heartbeat(within=timedelta(seconds=10), clock=clock)
    assert not heartbeat.alive()

    heartbeat.beat()
    clock.now += 10
    assert heartbeat.alive()
    clock.now += 0.5
    assert not heartbeat.alive()


def test_a_failure_stops_a_heartbeat_until_the_next_beat() -> None:
    """A failed round is not alive however recent the last beat; a beat revives it."""
    clock = Clock()
    heartbeat = Heartbeat(within=timedelta(seconds=10), clock=clock)
    heartbeat.beat()

    heartbeat.failed()
    assert not heartbeat.alive()
    heartbeat.beat()
    assert heartbeat.alive()


def test_a_worker_is_attached_only_when_every_queue_it_consumes_is() -> None:
    """One queue seen attached is not enough while another never was."""
    attachments = ConsumerAttachments(grace=timedelta(seconds=30), clock=Clock())
    queues = {"residuo.events", "residuo.events.DQ"}

    attachments.seen("residuo.events")
    assert not attachments.attached(queues)
    attachments.seen("residuo.events.DQ")
    assert attachments.attached(queues)


def test_a_consumer_reconnecting_within_the_grace_stays_attached() -> None:
    """A queue counts as attached for the grace after it was last seen: a consumer
    that reconnects within it never makes the worker unready; one that does not,
    does."""
    clock = Clock()
    attachments = ConsumerAttachments(grace=timedelta(seconds=30), clock=clock)
    attachments.seen("residuo.sweeps")

    clock.now += 29
    assert attachments.attached({"residuo.sweeps"})
    attachments.seen("residuo.sweeps")
    clock.now += 31
    assert not attachments.attached({"residuo.sweeps"})


def test_a_worker_with_no_queue_is_not_attached() -> None:
    """Nothing to consume is no job done."""
    assert not ConsumerAttachments().attached(set())


def tick(action: Action) -> Tick:
    return Tick(action, None, datetime(2026, 1, 10, 4, 30, tzinfo=UTC))


def test_a_scheduler_is_ready_after_a_tick_and_not_after_a_failed_one() -> None:
    """A database that fails a tick makes the scheduler unready; the next tick that
    succeeds, even one that only waits for a run in flight, makes it ready again."""
    health = SchedulerHealth(bound=timedelta(minutes=2))
    assert not health.ready()
    health.ticked(tick(Action.SENT))
    assert health.ready()

    health.failed(OperationalError("SELECT", {}, Exception("database away")))
    assert not health.ready()
    health.ticked(tick(Action.WAITING))
    assert health.ready()


def test_a_run_not_sent_keeps_the_scheduler_unready_until_a_tick_sends() -> None:
    """After a send failed, ticks that only wait for the claimed run do not prove the
    broker works; a tick that sends one (or finds nothing left to send) does."""
    health = SchedulerHealth(bound=timedelta(minutes=2))
    health.ticked(tick(Action.IDLE))

    health.failed(ConnectionClosed(Exception("broker away")))  # type: ignore[no-untyped-call]
    health.ticked(tick(Action.WAITING))
    assert not health.ready()
    health.ticked(tick(Action.RESENT))
    assert health.ready()
    health.ticked(tick(Action.WAITING))
    assert health.ready()


def test_the_gauge_appears_with_the_first_check_and_needs_all_of_them() -> None:
    """A process that runs no loop serves no gauge; with checks, 1 only while each
    passes, read at each scrape."""
    registry = CollectorRegistry()
    readiness = Readiness(registry)
    assert ready_samples(registry) == []

    worker_ready, relay_ready = [True], [False]
    readiness.require(lambda: worker_ready[0])
    readiness.require(lambda: relay_ready[0])
    assert ready_samples(registry) == [0.0]
    relay_ready[0] = True
    assert ready_samples(registry) == [1.0]
    worker_ready[0] = False
    assert ready_samples(registry) == [0.0]
