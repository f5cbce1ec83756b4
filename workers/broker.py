"""The broker, built from its URL: the in-memory one, or RabbitMQ.

Nothing here is global: the bootstrap calls ``create_broker`` and hands the broker
to ``dramatiq.set_broker`` itself, so no broker ever appears unconfigured.

Both brokers get the same plain middleware stack, then the caller's (log context,
rejection of invalid events). Retries differ on purpose: on RabbitMQ a transient
failure (database restarting) is retried with Dramatiq's exponential backoff for
hours; in memory the caller waits for every message, so a few quick retries are
all a transient failure gets before the message is dead-lettered.
"""

from collections.abc import Sequence
from typing import Final

from dramatiq import Broker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Middleware, Retries, ShutdownNotifications, TimeLimit

__all__ = ["MEMORY_BROKER_URL", "create_broker"]

MEMORY_BROKER_URL: Final = "memory"

_RABBITMQ_RETRIES: Final = {"max_retries": 20, "min_backoff": 15_000, "max_backoff": 3_600_000}
_MEMORY_RETRIES: Final = {"max_retries": 3, "min_backoff": 100, "max_backoff": 1_000}


def create_broker(url: str, *, middleware: Sequence[Middleware] = ()) -> Broker:
    """``memory`` → a ``StubBroker``; ``amqp://``/``amqps://`` → RabbitMQ with
    publisher confirms (an enqueue returns once RabbitMQ has the message).

    No connection is opened here: RabbitMQ is reached when a message is first sent
    or consumed.
    """
    if url == MEMORY_BROKER_URL:
        return StubBroker(middleware=[*_plain_stack(**_MEMORY_RETRIES), *middleware])
    if url.startswith(("amqp://", "amqps://")):
        return RabbitmqBroker(
            url=url,
            confirm_delivery=True,
            middleware=[*_plain_stack(**_RABBITMQ_RETRIES), *middleware],
        )
    raise ValueError(f"unsupported broker URL {url!r}: expected {MEMORY_BROKER_URL!r} or amqp://")


def _plain_stack(*, max_retries: int, min_backoff: int, max_backoff: int) -> list[Middleware]:
    # Dramatiq's defaults minus Callbacks and Pipelines, which residuo does not use.
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Retries(max_retries=max_retries, min_backoff=min_backoff, max_backoff=max_backoff),
    ]
