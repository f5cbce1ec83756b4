"""The long-running processes: ``residuo worker`` and ``residuo relay`` on RabbitMQ,
and ``residuo metrics``.

Each runs until its ``stop`` event is set, which ``stop_on_signals`` does on SIGTERM
or SIGINT. A worker then stops taking messages and lets those in flight finish (up
to ``worker_shutdown_timeout_ms``); whatever it had received but not finished is
still unacknowledged, and RabbitMQ delivers it again, to this worker once restarted
or to another. A relay finishes the batch it is publishing.

Each adds its check to the runtime's ``residuo_process_ready`` (``residuo.telemetry``):
the worker is ready while a consumer is attached to every queue it consumes (within
``workers.rabbitmq.attachments.ATTACH_GRACE``), the relay while it publishes or
stands by with its database answering (``workers.relay.Relay.is_ready``).
"""

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from threading import Event
from types import FrameType

import structlog
from dramatiq import Worker
from prometheus_client import CollectorRegistry

from residuo.bootstrap import Runtime
from residuo.telemetry import serving_metrics
from workers.rabbitmq.broker import ResiduoRabbitmqBroker
from workers.rabbitmq.publisher import RabbitmqPublisher
from workers.relay import Relay
from workers.relay_metrics import MeasuredPublisher, RelayMetrics

__all__ = ["run_relay", "run_worker", "serve_metrics", "stop_on_signals"]

_logger = structlog.get_logger(__name__)


@contextmanager
def stop_on_signals() -> Iterator[Event]:
    """An event set by SIGTERM or SIGINT while inside ``with``; the previous handlers
    are restored on the way out."""
    stop = Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        _logger.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()

    previous = {each: signal.signal(each, request_stop) for each in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def run_worker(runtime: Runtime, *, threads: int, stop: Event) -> None:
    """Consume every declared queue (and its delay queue) with ``threads`` worker
    threads until ``stop``. Raises ``TypeError`` for a broker other than RabbitMQ."""
    broker = runtime.broker
    if not isinstance(broker, ResiduoRabbitmqBroker):
        raise TypeError("a worker process consumes RabbitMQ: RESIDUO_BROKER_URL=amqp://…")
    consumed = broker.get_declared_queues() | broker.get_declared_delay_queues()
    runtime.readiness.require(lambda: broker.attachments.attached(consumed))
    worker = Worker(broker, worker_threads=threads)
    worker.start()
    _logger.info("worker started", threads=threads, queues=sorted(broker.get_declared_queues()))
    stop.wait()
    _logger.info("worker stopping: letting in-flight messages finish")
    worker.stop(timeout=runtime.settings.worker_shutdown_timeout_ms)
    _logger.info("worker stopped")


def run_relay(runtime: Runtime, *, stop: Event) -> None:
    """Relay the outbox to RabbitMQ until ``stop`` (see ``workers.relay.Relay``), each
    publish measured into the runtime's registry (``workers.relay_metrics``)."""
    settings = runtime.settings
    publisher = MeasuredPublisher(
        RabbitmqPublisher(settings.broker_url, queue_type=settings.broker_queue_type),
        RelayMetrics(runtime.registry),
    )
    relay = Relay(
        runtime.engine,
        publisher,
        batch_size=settings.relay_batch_size,
        poll_interval_ms=settings.relay_poll_interval_ms,
        clock=runtime.clock,
    )
    runtime.readiness.require(relay.is_ready)
    _logger.info("relay started")
    relay.run(stop)
    _logger.info("relay stopped")


def serve_metrics(registry: CollectorRegistry, *, host: str, port: int, stop: Event) -> None:
    """Serve ``registry`` on http://host:port/metrics until ``stop``."""
    with serving_metrics(registry, host=host, port=port):
        stop.wait()
    _logger.info("metrics stopped")
