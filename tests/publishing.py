"""Publishing to the events exchange as a careful upstream client does (docs/rabbitmq.md
"Publishing an event"): confirmed and ``mandatory``.

A worker declares the exchange ``residuo.events`` a moment before it binds its queue
to it. A publish in between, without ``mandatory``, is confirmed by RabbitMQ and
dropped: routed nowhere. A test that waits only for the exchange and then publishes
lost its first events that way, now and then, and timed out waiting for them. With
``mandatory`` RabbitMQ returns such a message (pika's ``UnroutableError``), and the
publish is tried again until the binding exists.
"""

import time
from collections.abc import Iterable

import pika
import pika.exceptions

__all__ = ["EVENTS_EXCHANGE", "PERSISTENT", "publish_routed"]

EVENTS_EXCHANGE = "residuo.events"
PERSISTENT = pika.BasicProperties(delivery_mode=2, content_type="application/json")
DEADLINE_S = 120.0


def publish_routed(
    url: str,
    messages: Iterable[tuple[str, bytes]],
    *,
    exchange: str = EVENTS_EXCHANGE,
    properties: pika.BasicProperties = PERSISTENT,
    deadline_s: float = DEADLINE_S,
) -> None:
    """Publish each ``(routing_key, body)`` in order, confirmed and ``mandatory``, each
    tried again until a queue took it (the exchange or its binding not declared yet).

    Raises ``AssertionError`` when one is still unroutable after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for routing_key, body in messages:
            while True:
                try:
                    channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
                    break
                except pika.exceptions.UnroutableError:
                    pass
                except pika.exceptions.ChannelClosedByBroker:
                    # 404: the exchange itself is not declared yet; the channel is gone.
                    channel = connection.channel()
                    channel.confirm_delivery()
                assert time.monotonic() < deadline, f"{exchange} never routed {routing_key}"
                time.sleep(0.05)
    finally:
        if connection.is_open:
            connection.close()
