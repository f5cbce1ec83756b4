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
consumer thread and coming back forever. What ingress itself refuses (a body over
the size limit, judged once, on the bytes received; a message whose AMQP headers
could not be read; binary-mode attributes that are not text) goes the same way,
its reason in ``REFUSED_AT_INGRESS_OPTION``.

On RabbitMQ, ``open_raw_ingress`` lets the events queue take such raw bodies from
any AMQP client, through the ``residuo.events`` exchange, in either CloudEvents
content mode (structured: the event is the body; binary: ``cloudEvents_*`` headers
and the data as the body).
"""

from collections.abc import Mapping
from typing import Any, Final

import pika
from dramatiq import Message

from messages import InboundBounds, InvalidEvent, decode_body
from messages.amqp_binding import structured_event
from messages.bounds import DEFAULT_MAX_BODY_BYTES
from workers.actors import EVENTS_QUEUE, Actors
from workers.middleware import REFUSED_AT_INGRESS_OPTION, body_bytes
from workers.rabbitmq.broker import ResiduoRabbitmqBroker
from workers.rabbitmq.properties import unreadable_headers
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

    Whatever comes through the exchange is an upstream event, even a body that
    happens to look like a Dramatiq message (``ResiduoRabbitmqBroker.decode``).
    The binding is made whenever the queue is declared: when a worker starts
    consuming, when ``residuo publish`` runs, and again if the queue was deleted.
    """
    broker.bind_exchange(EVENTS_QUEUE, EVENTS_EXCHANGE, ALL_ROUTING_KEYS)

    def route_delivery(body: bytes, properties: Any) -> Message[None]:
        headers = getattr(properties, "headers", None)
        content_type = getattr(properties, "content_type", None)
        problem = unreadable_headers(properties)
        if problem is None and content_type is not None and not isinstance(content_type, str):
            # pika hands over a content type that is not UTF-8 as bytes.
            problem = f"the content type {content_type!r} is not UTF-8 text"
            content_type = None
        return route(
            body,
            actors,
            headers=headers,
            content_type=content_type,
            max_body_bytes=max_body_bytes,
            unreadable_headers=problem,
        )

    broker.accept_raw_bodies(EVENTS_QUEUE, route_delivery)


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
    headers: Mapping[Any, Any] | None = None,
    content_type: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    unreadable_headers: str | None = None,
) -> Message[None]:
    """The message to enqueue for ``body``, received with AMQP ``headers`` and
    ``content_type``; no I/O, the caller enqueues it, and nothing here raises.

    Refused here, for ``RejectInvalidEvents`` to report and dead-letter: a body over
    ``max_body_bytes`` (not even decoded: the limit bounds the bytes received; a
    binary-mode event is counted again as the structured event it stands for), and a
    message whose headers could not be read (``unreadable_headers`` says why;
    ``bad_headers``): without them residuo cannot tell a structured event from the
    data of a binary one, so its body is not applied, but kept in the dead letter, to
    be replayed once ops have looked at it.

    An event in CloudEvents binary content mode (attributes in ``cloudEvents_*``
    headers, ``data`` as the body) travels on as the structured event it stands for
    (``messages.amqp_binding``), so it is validated, dead-lettered and replayed like
    any other.
    """
    try:
        InboundBounds(max_body_bytes=max_body_bytes).check_size(body)
    except InvalidEvent as too_large:
        return _refused(actors, _text(body), too_large)
    if unreadable_headers is not None:
        readable = _json_object(body)
        refusal = InvalidEvent(
            "bad_headers",
            f"the message's AMQP headers cannot be read ({unreadable_headers}); publish "
            "it again with headers any AMQP client can read",
            event_id=_string(readable, "id"),
            event_type=_string(readable, "type"),
        )
        return _refused(actors, readable if readable is not None else _text(body), refusal)
    try:
        binary = structured_event(headers, content_type, body)
    except InvalidEvent as not_text:
        data = _json_object(body)
        return _refused(actors, data if data is not None else _text(body), not_text)
    if binary is not None:
        # Counted again as the structured event it travels on as: what a dead letter
        # keeps and a replay re-publishes, so an event received within the limit is
        # replayed within it too (the attributes, in headers here, add their bytes).
        try:
            InboundBounds(max_body_bytes=max_body_bytes).check_size(body_bytes(binary))
        except InvalidEvent as too_large:
            return _refused(actors, binary, _named(too_large, binary))
    decoded = binary if binary is not None else _json_object(body)
    if decoded is not None:
        event_type = decoded.get("type")
        actor = actors.by_event_type.get(event_type) if isinstance(event_type, str) else None
        if actor is not None:
            return actor.message(decoded)
    if binary is not None:
        # Its attributes are in the headers: the report names its id and type.
        return actors.unroutable.message(binary)
    return actors.unroutable.message(_text(body))


def _named(refusal: InvalidEvent, event: Mapping[str, Any]) -> InvalidEvent:
    """``refusal`` naming the id and type of ``event`` (a binary-mode event's)."""
    return InvalidEvent(
        refusal.reason,
        refusal.detail,
        event_id=_string(event, "id"),
        event_type=_string(event, "type"),
    )


def _refused(actors: Actors, body: Mapping[str, Any] | str, refusal: InvalidEvent) -> Message[None]:
    """A message that ``RejectInvalidEvents`` reports and dead-letters as ``refusal``."""
    judged = {
        "reason": refusal.reason,
        "detail": refusal.detail,
        "event_id": refusal.event_id,
        "event_type": refusal.event_type,
    }
    return actors.unroutable.message_with_options(
        args=(body,), **{REFUSED_AT_INGRESS_OPTION: judged}
    )


def _text(body: bytes) -> str:
    # Undecodable bytes travel as surrogate escapes, so the report hashes the very
    # bytes received and the rejection says "not UTF-8" rather than something vaguer.
    return body.decode("utf-8", errors="surrogateescape")


def _string(decoded: Mapping[str, Any] | None, name: str) -> str | None:
    value = decoded.get(name) if decoded is not None else None
    return value if isinstance(value, str) else None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        return decode_body(body)
    except InvalidEvent:
        return None
