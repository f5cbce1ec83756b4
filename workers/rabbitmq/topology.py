"""residuo's names on RabbitMQ, and how a connection to it is opened.

Inbound: upstream publishes a CloudEvent, as plain JSON, to the durable topic
exchange ``residuo.events`` with the event ``type`` as routing key. The exchange is
bound to the Dramatiq queue ``residuo.events`` with ``#``, so every event reaches
the actors, even one of a type nobody knows (which is then rejected and reported,
rather than dropped by an exchange with no matching binding).

Outbound: the relay publishes each notification to the durable topic exchange
``residuo.notifications`` with the notification ``type`` as routing key; the
durable queue ``residuo.notifications``, bound with ``#``, is the default queue
ops and customer messaging read. Anyone may bind more queues to the exchange.

Dead letters: Dramatiq's ``<queue>.XQ`` of each queue (``residuo.events.XQ``,
``residuo.sweeps.XQ``), with residuo's ``x-residuo-*`` headers saying why.

Queue type: every queue residuo declares (work, delay, dead-letter, notifications) is
``classic`` or, on a cluster, ``quorum``: replicated on a majority of nodes, so that a
node lost loses no message. Dramatiq asks nothing of a queue that quorum queues do
not offer: its delay queues hold a retry unacknowledged in the worker until it is due
(no per-message TTL), dead letters are published by residuo itself (no broker-side
dead-lettering needed), no queue is exclusive or auto-deleted, prefetch is per
consumer, and residuo sets no message priority.
"""

from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

import pika

__all__ = [
    "ALL_ROUTING_KEYS",
    "CLASSIC",
    "DEFAULT_BLOCKED_CONNECTION_TIMEOUT_S",
    "DEFAULT_HEARTBEAT_S",
    "EVENTS_EXCHANGE",
    "NOTIFICATIONS_EXCHANGE",
    "NOTIFICATIONS_QUEUE",
    "QueueType",
    "connection_parameters",
    "declare_notifications",
    "queue_arguments",
]

EVENTS_EXCHANGE: Final = "residuo.events"
NOTIFICATIONS_EXCHANGE: Final = "residuo.notifications"
NOTIFICATIONS_QUEUE: Final = "residuo.notifications"
ALL_ROUTING_KEYS: Final = "#"

QueueType = Literal["classic", "quorum"]
CLASSIC: Final = "classic"

DEFAULT_HEARTBEAT_S: Final = 30
"""Heartbeat interval asked of the broker unless the URL says otherwise: a dead peer
is noticed within two intervals instead of when TCP gives up, minutes later."""

DEFAULT_BLOCKED_CONNECTION_TIMEOUT_S: Final = 60
"""A publisher blocked by a broker resource alarm (memory, disk) gives up after this
long and retries on a new connection, instead of hanging for as long as the alarm."""

_URL_DEFAULTS: Final = {
    "heartbeat": DEFAULT_HEARTBEAT_S,
    "blocked_connection_timeout": DEFAULT_BLOCKED_CONNECTION_TIMEOUT_S,
}


def connection_parameters(url: str) -> list[Any]:
    """pika parameters for ``url`` (several URLs separated by ``;`` for a cluster),
    with residuo's heartbeat and blocked-connection defaults wherever the URL's
    query (``?heartbeat=10``) does not set them."""
    parameters = []
    for each in url.split(";"):
        given = parse_qs(urlsplit(each).query)
        parameter = pika.URLParameters(each)
        for name, value in _URL_DEFAULTS.items():
            if name not in given:
                setattr(parameter, name, value)
        parameters.append(parameter)
    return parameters


def queue_arguments(queue_type: QueueType) -> dict[str, str]:
    """The declaration arguments that make a queue of ``queue_type``. A queue keeps
    the type it was first declared with: re-declaring it as another is refused
    (``PRECONDITION_FAILED``), see ``docs/rabbitmq.md`` to move to quorum queues."""
    return {} if queue_type == CLASSIC else {"x-queue-type": queue_type}


def declare_notifications(channel: Any, queue_type: QueueType = CLASSIC) -> None:
    """Declare the notifications exchange and its default queue (idempotent)."""
    channel.exchange_declare(NOTIFICATIONS_EXCHANGE, "topic", durable=True)
    channel.queue_declare(NOTIFICATIONS_QUEUE, durable=True, arguments=queue_arguments(queue_type))
    channel.queue_bind(NOTIFICATIONS_QUEUE, NOTIFICATIONS_EXCHANGE, ALL_ROUTING_KEYS)
