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
"""

from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import pika

__all__ = [
    "ALL_ROUTING_KEYS",
    "DEFAULT_BLOCKED_CONNECTION_TIMEOUT_S",
    "DEFAULT_HEARTBEAT_S",
    "EVENTS_EXCHANGE",
    "NOTIFICATIONS_EXCHANGE",
    "NOTIFICATIONS_QUEUE",
    "connection_parameters",
    "declare_notifications",
]

EVENTS_EXCHANGE: Final = "residuo.events"
NOTIFICATIONS_EXCHANGE: Final = "residuo.notifications"
NOTIFICATIONS_QUEUE: Final = "residuo.notifications"
ALL_ROUTING_KEYS: Final = "#"

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


def declare_notifications(channel: Any) -> None:
    """Declare the notifications exchange and its default queue (idempotent)."""
    channel.exchange_declare(NOTIFICATIONS_EXCHANGE, "topic", durable=True)
    channel.queue_declare(NOTIFICATIONS_QUEUE, durable=True)
    channel.queue_bind(NOTIFICATIONS_QUEUE, NOTIFICATIONS_EXCHANGE, ALL_ROUTING_KEYS)
