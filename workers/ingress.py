"""From a raw body to the actor that handles it, by its CloudEvents ``type``.

Routing only reads the ``type``; validating the rest is the actors' middleware's
job. A body that names no known type (not JSON, not an object, an unknown or
missing ``type``) still gets a message: to the unroutable-event actor, whose
middleware reports it (``event.rejected``) and dead-letters it like any other
invalid event. So there is exactly one rejection path, whatever the input.

Routing reads a body only if it is within the size limit, and through the same
decoder as validation (``messages.decode_body``: nesting bounded, any decoder failure
refused), so a poison body (10,000 nested arrays, a gigabyte of JSON) is routed to
the unroutable-event actor unread, and rejected there, instead of crashing the
consumer thread and coming back forever.

On RabbitMQ, ``open_raw_ingress`` lets the events queue take such raw bodies from
any AMQP client, through the ``residuo.events`` exchange, in either CloudEvents
content mode (structured: the event is the body; binary: ``cloudEvents_*`` headers
and the data as the body).
"""

from collections.abc import Mapping
from typing import Any, Final

import pika
from dramatiq import Message

from messages import InvalidEvent, decode_body
from messages.amqp_binding import structured_event
from messages.bounds import DEFAULT_MAX_BODY_BYTES
from workers.actors import EVENTS_QUEUE, Actors
from workers.rabbitmq.broker import ResiduoRabbitmqBroker
from workers.rabbitmq.topology import ALL_ROUTING_KEYS, EVENTS_EXCHANGE

__all__ = ["UNTYPED_ROUTING_KEY", "open_raw_ingress", "publish_event", "route"]

UNTYPED_ROUTING_KEY: Final = "untyped"
"""Routing key ``publish_event`` uses for a body whose ``type`` cannot be read."""

_PERSISTENT: Final = 2


def open_raw_ingress(
    broker: ResiduoRabbitmqBroker,
    actors: Actors,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> None:
    """Bind the ``residuo.events`` exchange to the events queue (every routing key),
    and route each raw body received there to its actor (see ``route``).

    The binding is made whenever the queue is declared: when a worker starts
    consuming, when ``residuo publish`` runs, and again if the queue was deleted.
    """
    broker.bind_exchange(EVENTS_QUEUE, EVENTS_EXCHANGE, ALL_ROUTING_KEYS)
    broker.accept_raw_bodies(
        EVENTS_QUEUE,
        lambda body, headers, content_type: route(
            body,
            actors,
            headers=headers,
            content_type=content_type,
            max_body_bytes=max_body_bytes,
        ),
    )


def publish_event(broker: ResiduoRabbitmqBroker, body: bytes) -> str:
    """Publish ``body`` to the ``residuo.events`` exchange exactly as an upstream
    publisher would (confirmed, persistent, routing key = its ``type``), after
    declaring the exchange and its binding; the routing key used.

    The body is not validated here: an invalid event is rejected by the worker and
    reported to ops like any other.
    """
    decoded = _json_object(body)
    event_type = decoded.get("type") if decoded is not None else None
    event_id = decoded.get("id") if decoded is not None else None
    routing_key = event_type if isinstance(event_type, str) and event_type else UNTYPED_ROUTING_KEY
    broker.publish(
        exchange=EVENTS_EXCHANGE,
        routing_key=routing_key,
        body=body,
        properties=pika.BasicProperties(
            delivery_mode=_PERSISTENT,
            content_type="application/json",
            message_id=event_id if isinstance(event_id, str) else None,
        ),
        queue_name=EVENTS_QUEUE,
    )
    return routing_key


def route(
    body: bytes,
    actors: Actors,
    *,
    headers: Mapping[str, Any] | None = None,
    content_type: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Message[None]:
    """The message to enqueue for ``body``, received with AMQP ``headers`` and
    ``content_type``; no I/O, the caller enqueues it. A body over ``max_body_bytes``
    is not even decoded.

    An event in CloudEvents binary content mode (attributes in ``cloudEvents_*``
    headers, ``data`` as the body) travels on as the structured event it stands for
    (``messages.amqp_binding``), so it is validated, dead-lettered and replayed like
    any other.
    """
    binary: dict[str, Any] | None = None
    decoded: dict[str, Any] | None = None
    if len(body) <= max_body_bytes:
        binary = structured_event(headers, content_type, body)
        decoded = binary if binary is not None else _json_object(body)
    if decoded is not None:
        event_type = decoded.get("type")
        actor = actors.by_event_type.get(event_type) if isinstance(event_type, str) else None
        if actor is not None:
            return actor.message(decoded)
    if binary is not None:
        # Its attributes are in the headers: the report names its id and type.
        return actors.unroutable.message(binary)
    # Undecodable bytes travel as surrogate escapes, so the report hashes the very
    # bytes received and the rejection says "not UTF-8" rather than something vaguer.
    return actors.unroutable.message(body.decode("utf-8", errors="surrogateescape"))


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        return decode_body(body)
    except InvalidEvent:
        return None
