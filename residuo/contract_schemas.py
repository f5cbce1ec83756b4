"""JSON Schemas (2020-12) of the contract's messages, from the pydantic models.

An inbound event's schema is its envelope model's (``messages.inbound``), in
validation mode: what residuo accepts. A notification's is ``CloudEvent`` around its
`data` model (``messages.NOTIFICATION_TYPES``), in serialization mode, with what the
generic envelope leaves open fixed as residuo publishes it. References to shared
definitions follow ``ref_template`` (``#/$defs/{model}`` in a standalone file,
``#/components/schemas/{model}`` in the AsyncAPI document).
"""

from typing import Any, get_args

from pydantic import BaseModel

from messages import INBOUND_TYPES, NOTIFICATION_SOURCE, NOTIFICATION_TYPES, CloudEvent
from messages.inbound import InboundEvent
from messages.notifications import CustomerNotification, NotificationData

__all__ = ["event_models", "event_schema", "notification_models", "notification_schema"]


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


def event_schema(event_type: str, *, ref_template: str) -> dict[str, Any]:
    """The schema of the inbound event ``event_type``, envelope and `data`."""
    model = event_models()[event_type]
    schema = _schema(model, ref_template=ref_template, mode="validation")
    schema["title"] = event_type
    data_model = model.model_fields["data"].annotation
    assert data_model is not None
    schema["description"] = (data_model.__doc__ or "").strip()
    return schema


def notification_schema(notification_type: str, *, ref_template: str) -> dict[str, Any]:
    """The schema of the notification ``notification_type``, envelope and `data`."""
    model = notification_models()[notification_type]
    schema = _schema(model, ref_template=ref_template, mode="serialization")
    return _notification_envelope(notification_type, schema, NOTIFICATION_TYPES[notification_type])
