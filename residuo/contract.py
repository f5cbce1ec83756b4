"""The machine-readable contract, generated from the pydantic models of ``messages``.

``residuo contract export DIR`` writes, and a test keeps ``docs/contract/`` equal to:

* ``schemas/events/<type>.json``: a JSON Schema (2020-12) of each inbound CloudEvent,
  envelope and `data`, from ``messages.inbound``;
* ``schemas/notifications/<type>.json``: the same for each notification, from
  ``messages.notifications.NOTIFICATION_TYPES``, so a notification type added there
  appears here when the contract is exported again;
* ``asyncapi.json``: an AsyncAPI 3.0 document of the exchanges, queues and messages on
  RabbitMQ (``workers.rabbitmq.topology``), its schemas inline under ``components``.

The prose (the rules, the verbs, every decision) is ``docs/contract.md``.
"""

import json
from collections.abc import Iterable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final, get_args

from pydantic import BaseModel

from messages import INBOUND_TYPES, NOTIFICATION_SOURCE, NOTIFICATION_TYPES, CloudEvent
from messages.inbound import InboundEvent
from messages.notifications import CustomerNotification, NotificationData
from workers.actors import EVENTS_QUEUE
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

__all__ = ["asyncapi_document", "contract_files", "event_models", "export"]

_JSON_SCHEMA: Final = "https://json-schema.org/draft/2020-12/schema"
_COMPONENT_REF: Final = "#/components/schemas/{model}"
_AMQP_BINDING_VERSION: Final = "0.3.0"
_PERSISTENT: Final = 2


def event_models() -> dict[str, type[BaseModel]]:
    """Each inbound envelope model by its CloudEvents ``type``, in ``INBOUND_TYPES`` order."""
    (union, _discriminator) = get_args(InboundEvent)
    by_type = {
        get_args(model.model_fields["type"].annotation)[0]: model for model in get_args(union)
    }
    return {event_type: by_type[event_type] for event_type in INBOUND_TYPES}


def notification_models() -> dict[str, type[BaseModel]]:
    """Each notification's envelope model (``CloudEvent`` around its `data`) by type."""
    return {
        notification_type: CloudEvent[model]  # type: ignore[valid-type]
        for notification_type, model in NOTIFICATION_TYPES.items()
    }


def _schema(model: type[BaseModel], *, ref_template: str, mode: str) -> dict[str, Any]:
    return model.model_json_schema(ref_template=ref_template, mode=mode)  # type: ignore[arg-type]


def _notification_envelope(
    notification_type: str, schema: dict[str, Any], data: type[NotificationData]
) -> dict[str, Any]:
    """What the generic envelope schema leaves open, fixed as residuo publishes it."""
    properties = schema["properties"]
    properties["type"] = {"const": notification_type, "type": "string"}
    properties["source"] = {"const": NOTIFICATION_SOURCE, "type": "string"}
    properties["datacontenttype"] = {"const": "application/json", "type": "string"}
    if issubclass(data, CustomerNotification):
        properties["subject"] = {
            "type": "string",
            "description": "The customer_id of the notification's data.",
        }
        schema["required"] = [*schema["required"], "subject"]
    else:
        properties.pop("subject")
    schema["required"] = [*schema["required"], "datacontenttype"]
    schema["title"] = notification_type
    schema["description"] = (data.__doc__ or "").strip()
    return schema


def _event_schema(event_type: str, model: type[BaseModel], *, ref_template: str) -> dict[str, Any]:
    schema = _schema(model, ref_template=ref_template, mode="validation")
    schema["title"] = event_type
    data_model = model.model_fields["data"].annotation
    assert data_model is not None
    schema["description"] = (data_model.__doc__ or "").strip()
    return schema


def _notification_schema(notification_type: str, *, ref_template: str) -> dict[str, Any]:
    model = notification_models()[notification_type]
    schema = _schema(model, ref_template=ref_template, mode="serialization")
    return _notification_envelope(notification_type, schema, NOTIFICATION_TYPES[notification_type])


def _standalone(schema: dict[str, Any], identifier: str) -> dict[str, Any]:
    return {"$schema": _JSON_SCHEMA, "$id": identifier, **schema}


def contract_files() -> dict[str, str]:
    """Every file of the contract, by its path relative to the export directory."""
    files: dict[str, str] = {}
    for event_type, model in event_models().items():
        schema = _event_schema(event_type, model, ref_template="#/$defs/{model}")
        path = f"schemas/events/{event_type}.json"
        files[path] = _dumps(_standalone(schema, path))
    for notification_type in NOTIFICATION_TYPES:
        schema = _notification_schema(notification_type, ref_template="#/$defs/{model}")
        path = f"schemas/notifications/{notification_type}.json"
        files[path] = _dumps(_standalone(schema, path))
    files["asyncapi.json"] = _dumps(asyncapi_document())
    return files


def export(directory: Path) -> list[Path]:
    """Write ``contract_files()`` under ``directory``; the paths written. Files of an
    earlier export that the contract no longer has (a removed type) are deleted."""
    files = contract_files()
    for stale in sorted(directory.glob("schemas/*/*.json")):
        if stale.relative_to(directory).as_posix() not in files:
            stale.unlink()
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document (see the module)."""
    schemas: dict[str, Any] = {}
    events = {
        event_type: _component(
            schemas,
            event_type,
            _event_schema(event_type, model, ref_template=_COMPONENT_REF),
        )
        for event_type, model in event_models().items()
    }
    notifications = {
        notification_type: _component(
            schemas,
            notification_type,
            _notification_schema(notification_type, ref_template=_COMPONENT_REF),
        )
        for notification_type in NOTIFICATION_TYPES
    }
    messages = {
        **{name: _message(name, schema, "inbound") for name, schema in events.items()},
        **{name: _message(name, schema, "notification") for name, schema in notifications.items()},
        "deadLetter": _dead_letter_message(),
    }
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
        "channels": {
            "events": _exchange_channel(
                EVENTS_EXCHANGE,
                "Where upstream publishes each CloudEvent, routing key = its type, "
                "persistent. Structured content mode (the event is the body) or binary "
                "(attributes as cloudEvents_* headers, data as the body).",
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
                {"deadLetter": None},
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
        },
        "operations": {
            "receiveEvent": _operation(
                "receive", "events", events, "residuo applies each inbound event once, by id."
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
                {"deadLetter": None},
                "residuo dead-letters an event it cannot apply, saying why.",
            ),
        },
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def _component(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Move ``schema``'s definitions into ``schemas`` (equal ones are shared), add the
    schema itself as ``name``, and return a reference to it."""
    for definition, body in schema.pop("$defs", {}).items():
        known = schemas.setdefault(definition, body)
        assert known == body, f"two different schemas are named {definition}"
    schemas[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def _message(name: str, payload: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "summary": f"The {kind} CloudEvent {name}.",
        "contentType": "application/json",
        "payload": payload,
        "bindings": {"amqp": {"messageType": name, "bindingVersion": _AMQP_BINDING_VERSION}},
    }


def _dead_letter_message() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "name": "deadLetter",
        "title": "dead letter",
        "summary": "An event residuo could not apply: its body as received (an event in "
        "binary mode as the structured event it stands for), and why.",
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
                DEAD_LETTER_ID_HEADER: text
                | {"description": "sha256:<hex> of the body: event.rejected's dead_letter_id."},
            },
            "required": [REASON_HEADER, QUEUE_HEADER, DEAD_LETTERED_AT_HEADER],
        },
        "payload": {"description": "The dead-lettered body, as it was."},
    }


def _exchange_channel(name: str, description: str, messages: Mapping[str, Any]) -> dict[str, Any]:
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


def _queue_channel(name: str, description: str, messages: Mapping[str, Any]) -> dict[str, Any]:
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


def _dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
