"""The broker, built from its URL: the in-memory one, or RabbitMQ.

Nothing here is global: the bootstrap calls ``create_broker`` and hands the broker
to ``dramatiq.set_broker`` itself, so no broker ever appears unconfigured.

Both brokers get the caller's outermost middleware (metrics, the events' log
lines: they see a message first and last), the same plain middleware stack, then
the caller's other middleware (log context, rejection of invalid events). Retries
differ on purpose: on RabbitMQ a transient failure (database restarting) is retried
with exponential backoff for hours (``RetryPolicy``, from the settings); in memory
the caller waits for every message, so a few quick retries are all a transient
failure gets before the message is dead-lettered. Any other failure gets a few tries
on either (``workers.failures``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from dramatiq import Broker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Middleware, ShutdownNotifications, TimeLimit

from workers.rabbitmq.broker import DEFAULT_PUBLISH_TIMEOUT_MS, ResiduoRabbitmqBroker
from workers.rabbitmq.topology import CLASSIC, QueueType
from workers.retries import DurableRetries

__all__ = ["MEMORY_BROKER_URL", "RetryPolicy", "create_broker"]

MEMORY_BROKER_URL: Final = "memory"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failed message is retried (``workers.failures`` says which kind it is).

    A transient failure is retried ``max_retries`` times: by default for about four
    hours (15 s, 30 s, 1 min, … then every 15 min). The delay stays under RabbitMQ's
    ``consumer_timeout`` (30 min by default): a retry waits, unacknowledged, in the
    worker that holds it, and one held longer than that has its channel closed by
    the broker. Any other failure (a bug, a value the books cannot hold) is retried
    ``max_processing_retries`` times on the same schedule, then dead-lettered.
    """

    max_retries: int = 20
    min_backoff_ms: int = 15_000
    max_backoff_ms: int = 900_000
    max_processing_retries: int = 2


_MEMORY_RETRIES: Final = RetryPolicy(max_retries=3, min_backoff_ms=100, max_backoff_ms=1_000)
"""The in-memory broker's retries: fast, since its caller waits for every message."""


def create_broker(
    url: str,
    *,
    middleware: Sequence[Middleware] = (),
    outermost: Sequence[Middleware] = (),
    retries: RetryPolicy | None = None,
    publish_timeout_ms: int = DEFAULT_PUBLISH_TIMEOUT_MS,
    queue_type: QueueType = CLASSIC,
) -> Broker:
    """``memory`` → a ``StubBroker``; ``amqp://``/``amqps://`` → RabbitMQ with
    publisher confirms (an enqueue returns once RabbitMQ has the message).

    ``outermost`` middleware comes before the plain stack, so its ``after`` hooks run
    once ``Retries`` has decided a message's fate; ``middleware`` comes after it.
    ``retries`` applies to RabbitMQ (default: ``RetryPolicy()``); the in-memory broker
    always retries quickly. ``queue_type`` is RabbitMQ's, for every queue it declares.
    No connection is opened here: RabbitMQ is reached when a message is first sent or
    consumed.
    """
    if url == MEMORY_BROKER_URL:
        return StubBroker(middleware=[*outermost, *_plain_stack(_MEMORY_RETRIES), *middleware])
    if url.startswith(("amqp://", "amqps://")):
        return ResiduoRabbitmqBroker(
            url=url,
            middleware=[*outermost, *_plain_stack(retries or RetryPolicy()), *middleware],
            publish_timeout_ms=publish_timeout_ms,
            queue_type=queue_type,
        )
    raise ValueError(f"unsupported broker URL {url!r}: expected {MEMORY_BROKER_URL!r} or amqp://")


def _plain_stack(retries: RetryPolicy) -> list[Middleware]:
    # Dramatiq's defaults minus Callbacks and Pipelines, which residuo does not use,
    # and with Retries replaced by DurableRetries.
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        DurableRetries(
            max_retries=retries.max_retries,
            min_backoff=retries.min_backoff_ms,
            max_backoff=retries.max_backoff_ms,
            max_processing_retries=retries.max_processing_retries,
        ),
    ]
