"""The AsyncAPI 3.0 document of residuo on RabbitMQ, generated from the models.

Channels are the exchanges and queues of ``workers.rabbitmq.topology``: upstream's
events in, the notifications out, and the dead-letter queue of each work queue
(``residuo.events.XQ``, ``residuo.sweeps.XQ``). Each inbound event is two messages,
one per content mode of the CloudEvents AMQP binding (``messages.amqp_binding``):
*structured*, the whole event as the body, and *binary*, its attributes as
``cloudEvents_<attribute>`` headers and its `data` as the body, the headers' schema
made from the envelope's own, so that both modes say the same of every attribute.
Schemas are inline under ``components.schemas``, shared where equal.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import fields
from importlib.metadata import version
from typing import Any, Final

from dramatiq import Message

from messages import INBOUND_TYPES, NOTIFICATION_TYPES
from messages.amqp_binding import ATTRIBUTE_PREFIXES
from messages.cloudevents import EXTENSION_NAME_CHARACTERS
from residuo.contract_schemas import event_schema, notification_schema
from workers.actors import EVENTS_QUEUE, SWEEPS_QUEUE
from workers.rabbitmq.dead_letters import (
    ACTOR_HEADER,
    DEAD_LETTER_ID_HEADER,
    DEAD_LETTERED_AT_HEADER,
    DETAIL_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    QUEUE_HEADER,
    REASON_HEADER,
    RETRIES_HEADER,
)
from workers.rabbitmq.topology import EVENTS_EXCHANGE, NOTIFICATIONS_EXCHANGE, NOTIFICATIONS_QUEUE

__all__ = ["asyncapi_document"]

_COMPONENT_REF: Final = "#/components/schemas/{model}"
_AMQP_BINDING_VERSION: Final = "0.3.0"
_PERSISTENT: Final = 2
_BINARY: Final = ".binary"
_HEADER_PREFIX, _ALSO_UNDERSTOOD = ATTRIBUTE_PREFIXES

# Attributes binary mode does not carry as headers: `data` is the body and
# `datacontenttype` the message's content type.
_NOT_HEADERS: Final = frozenset({"data", "datacontenttype"})

# A Dramatiq message as JSON (``dramatiq.Message``): what a sweep's dead letter holds.
_DRAMATIQ_FIELDS: Final[Mapping[str, dict[str, Any]]] = {
    "queue_name": {"type": "string"},
    "actor_name": {"type": "string"},
    "args": {"type": "array"},
    "kwargs": {"type": "object"},
    "options": {"type": "object"},
    "message_id": {"type": "string", "description": "Its dead letter's id."},
    "message_timestamp": {"type": "integer", "description": "Milliseconds since the epoch."},
}


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document (see the module)."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in INBOUND_TYPES:
        schema = event_schema(event_type, ref_template=_COMPONENT_REF)
        headers = _binary_headers(event_type, schema)
        payload = schema["properties"]["data"]
        messages[event_type] = _message(
            event_type,
            _component(schemas, event_type, schema),
            f"The inbound CloudEvent {event_type}, in structured content mode: the event "
            "is the body.",
        )
        messages[event_type + _BINARY] = _binary_message(event_type, headers, payload)
    events = list(messages)
    for notification_type in NOTIFICATION_TYPES:
        schema = notification_schema(notification_type, ref_template=_COMPONENT_REF)
        messages[notification_type] = _message(
            notification_type,
            _component(schemas, notification_type, schema),
            f"The notification CloudEvent {notification_type}.",
        )
    notifications = list(NOTIFICATION_TYPES)
    messages["deadLetter"] = _dead_letter_message(
        "deadLetter",
        "dead letter",
        "An inbound event residuo could not apply: its body as received (an event in "
        "binary mode as the structured event it stands for), and why.",
        "sha256:<hex> of the body: event.rejected's dead_letter_id.",
        {"description": "The dead-lettered body, as it was."},
    )
    messages["sweepDeadLetter"] = _dead_letter_message(
        "sweepDeadLetter",
        "sweep dead letter",
        "A sweep message residuo gave up on (processing_error, retries_exhausted, …): "
        "the Dramatiq message as it was, and why. No event.rejected: it is not an event.",
        "The Dramatiq message id.",
        _dramatiq_message(),
    )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "residuo",
            "version": version("residuo"),
            "description": (
                "Residual customer credit: upstream billing publishes CloudEvents to "
                "RabbitMQ, residuo applies the rules to its books and publishes "
                "notifications. Generated from the pydantic models by `residuo contract "
                "export`; the rules and every decision are in docs/contract.md."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The RabbitMQ broker of RESIDUO_BROKER_URL (host, vhost and "
                "credentials are the deployment's).",
            }
        },
        "channels": _channels(events, notifications),
        "operations": {
            "receiveEvent": _operation(
                "receive",
                "events",
                events,
                "residuo applies each inbound event once, by id, in either content mode.",
            ),
            "sendNotification": _operation(
                "send",
                "notifications",
                notifications,
                "residuo publishes what each change of its books means, through its outbox.",
            ),
            "sendDeadLetter": _operation(
                "send",
                "deadLetters",
                ["deadLetter"],
                "residuo dead-letters an event it cannot apply, saying why.",
            ),
            "sendSweepDeadLetter": _operation(
                "send",
                "sweepDeadLetters",
                ["sweepDeadLetter"],
                "residuo dead-letters a sweep message it gave up on, saying why.",
            ),
        },
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def _channels(events: list[str], notifications: list[str]) -> dict[str, Any]:
    return {
        "events": _exchange_channel(
            EVENTS_EXCHANGE,
            "Where upstream publishes each CloudEvent, routing key = its type, "
            "persistent. Structured content mode (the event is the body) or binary "
            f"(attributes as {_HEADER_PREFIX}* headers, data as the body).",
            events,
        ),
        "eventsQueue": _queue_channel(
            EVENTS_QUEUE,
            f"Bound to {EVENTS_EXCHANGE} with '#': every event reaches the workers.",
            events,
        ),
        "deadLetters": _queue_channel(
            f"{EVENTS_QUEUE}.XQ",
            "Events that could never be valid, or ran out of retries, with why in "
            "x-residuo-* headers; kept until residuo dead-letters replays, drops or "
            "archives them.",
            ["deadLetter"],
        ),
        "sweepDeadLetters": _queue_channel(
            f"{SWEEPS_QUEUE}.XQ",
            f"Sweep messages ({SWEEPS_QUEUE} carries Dramatiq messages from residuo's "
            "scheduler to its workers; nobody else publishes there) given up on, with "
            "why in x-residuo-* headers; kept until `residuo dead-letters --queue "
            f"{SWEEPS_QUEUE}` replays, drops or archives them.",
            ["sweepDeadLetter"],
        ),
        "notifications": _exchange_channel(
            NOTIFICATIONS_EXCHANGE,
            "Every notification, routing key = its type, persistent, published with "
            "publisher confirms; AMQP message_id = the CloudEvent id (dedupe on it).",
            notifications,
        ),
        "notificationsQueue": _queue_channel(
            NOTIFICATIONS_QUEUE,
            f"The default notifications queue, bound to {NOTIFICATIONS_EXCHANGE} with '#'.",
            notifications,
        ),
    }


def _component(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Move ``schema``'s definitions into ``schemas`` (equal ones are shared), add the
    schema itself as ``name``, and return a reference to it."""
    for definition, body in schema.pop("$defs", {}).items():
        known = schemas.setdefault(definition, body)
        assert known == body, f"two different schemas are named {definition}"
    schemas[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def _message(name: str, payload: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": payload,
        "bindings": {"amqp": {"messageType": name, "bindingVersion": _AMQP_BINDING_VERSION}},
    }


def _binary_headers(event_type: str, envelope: dict[str, Any]) -> dict[str, Any]:
    """The headers of ``event_type`` in binary mode: each attribute of the envelope's
    schema, ``data`` and ``datacontenttype`` aside, under its ``cloudEvents_`` name,
    with the same schema; extension attributes as the envelope allows them, names
    and values (a header residuo would read as a badly named attribute is refused)."""
    attributes = {
        name: schema for name, schema in envelope["properties"].items() if name not in _NOT_HEADERS
    }
    properties = {f"{_HEADER_PREFIX}{name}": schema for name, schema in attributes.items()}
    time = properties[f"{_HEADER_PREFIX}time"]
    properties[f"{_HEADER_PREFIX}time"] = time | {
        "description": "An ISO 8601 string with an offset, or an AMQP timestamp (read as UTC)."
    }
    prefix = re.escape(_HEADER_PREFIX)
    return {
        "type": "object",
        "title": f"{event_type} attributes",
        "description": f"Every attribute but data and datacontenttype, as a header "
        f"{_HEADER_PREFIX}<attribute> ({_ALSO_UNDERSTOOD}<attribute> is understood too; "
        "the first wins if a message has both). A message is in binary mode when it "
        f"has {_HEADER_PREFIX}specversion and its content type does not start with "
        f"application/cloudevents. A {_HEADER_PREFIX} header whose attribute name is "
        "not lowercase letters and digits is refused; other headers are ignored.",
        "properties": properties,
        # Any attribute header (residuo ignores a bare prefix) has an attribute's value;
        # one whose name is not an attribute's is refused, as residuo refuses it.
        "patternProperties": {
            f"^{prefix}[\\s\\S]": envelope["additionalProperties"],
            f"^{prefix}[\\s\\S]*[^{EXTENSION_NAME_CHARACTERS}]": False,
        },
        "required": [
            f"{_HEADER_PREFIX}{name}" for name in envelope["required"] if name not in _NOT_HEADERS
        ],
    }


def _binary_message(
    event_type: str, headers: dict[str, Any], payload: dict[str, Any]
) -> dict[str, Any]:
    name = event_type + _BINARY
    return {
        "name": name,
        "title": f"{event_type} (binary)",
        "summary": f"The inbound CloudEvent {event_type}, in binary content mode: its "
        f"attributes as {_HEADER_PREFIX}* headers, its data as the body, its "
        "datacontenttype as the AMQP content_type.",
        "contentType": "application/json",
        "headers": headers,
        "payload": payload,
        "bindings": {"amqp": {"messageType": event_type, "bindingVersion": _AMQP_BINDING_VERSION}},
    }


def _dramatiq_message() -> dict[str, Any]:
    names = [field.name for field in fields(Message)]
    return {
        "type": "object",
        "title": "Dramatiq message",
        "description": "A Dramatiq message, as Dramatiq encodes it.",
        "properties": {name: _DRAMATIQ_FIELDS[name] for name in names},
        "required": names,
    }


def _dead_letter_message(
    name: str, title: str, summary: str, dead_letter_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "headers": {
            "type": "object",
            "properties": {
                REASON_HEADER: text | {"description": "Why: a rejection reason or a failure."},
                DETAIL_HEADER: text,
                QUEUE_HEADER: text,
                ACTOR_HEADER: text,
                EVENT_ID_HEADER: text,
                EVENT_TYPE_HEADER: text,
                RETRIES_HEADER: {"type": "integer"},
                DEAD_LETTERED_AT_HEADER: text | {"format": "date-time"},
                DEAD_LETTER_ID_HEADER: text | {"description": dead_letter_id},
            },
            "required": [REASON_HEADER, QUEUE_HEADER, DEAD_LETTERED_AT_HEADER],
        },
        "payload": payload,
    }


def _exchange_channel(name: str, description: str, messages: Iterable[str]) -> dict[str, Any]:
    return {
        "address": name,
        "title": f"exchange {name}",
        "description": description,
        "messages": _message_refs(messages),
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": name,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": _AMQP_BINDING_VERSION,
            }
        },
    }


def _queue_channel(name: str, description: str, messages: Iterable[str]) -> dict[str, Any]:
    return {
        "address": name,
        "title": f"queue {name}",
        "description": description,
        "messages": _message_refs(messages),
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": name,
                    "durable": True,
                    "exclusive": False,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": _AMQP_BINDING_VERSION,
            }
        },
    }


def _message_refs(names: Iterable[str]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/messages/{name}"} for name in names}


def _operation(action: str, channel: str, messages: Iterable[str], summary: str) -> dict[str, Any]:
    # Every message either way is persistent; residuo acknowledges what it received
    # only once it is applied (or dead-lettered).
    amqp = {"deliveryMode": _PERSISTENT} if action == "send" else {"ack": True}
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "bindings": {"amqp": amqp | {"bindingVersion": _AMQP_BINDING_VERSION}},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
    }
