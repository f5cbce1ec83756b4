"""Notifications on the wire: the envelope the outbox stores, and reading it back.

The ledger builds a notification model inside its unit of work and stores
`notification_envelope(...)` in the outbox, as the JSON text `notification_payload`
writes; the relay publishes it unchanged, with routing key = its `type`.
`parse_notification` is for consumers and tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import orjson
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from messages._wire import header, load_object, rejection
from messages.catalogue import NOTIFICATION_TYPES
from messages.cloudevents import JSON_CONTENT_TYPE, SPECVERSION, CloudEvent
from messages.errors import InvalidEvent
from messages.notifications import CustomerNotification, NotificationData

__all__ = [
    "NOTIFICATION_SOURCE",
    "notification_envelope",
    "notification_payload",
    "parse_notification",
]

NOTIFICATION_SOURCE: Final = "residuo"


_OutboundEvent = CloudEvent[NotificationData]
_ReceivedEvent = CloudEvent[dict[str, Any]]
_INSTANT: Final = TypeAdapter(AwareDatetime)
# Made once: `json.dumps` with any option builds a new encoder at every call.
_COMPACT: Final = json.JSONEncoder(separators=(",", ":"))


def notification_envelope(data: NotificationData, *, id: str, time: datetime) -> dict[str, Any]:
    """The JSON-ready CloudEvent for `data`, as stored in the outbox and published.

    `time` must be timezone-aware; `subject` is the customer, when there is one.
    """
    envelope = _OutboundEvent(
        specversion=SPECVERSION,
        id=id,
        source=NOTIFICATION_SOURCE,
        type=data.TYPE,
        time=time,
        datacontenttype=JSON_CONTENT_TYPE,
        subject=data.customer_id if isinstance(data, CustomerNotification) else None,
        data=data,
    )
    # Optional attributes are left out of the envelope, but `data` keeps its nulls:
    # they are part of the notification's contract (`event.rejected` with no id).
    attributes = envelope.model_dump(mode="json", exclude_none=True, exclude={"data"})
    return attributes | {"data": data.model_dump(mode="json")}


# Cached: a sweep dates a window's thousand notifications at one instant. Keyed by the
# offset too: the same instant is spelled in the offset it was given in.
@lru_cache(maxsize=256)
def _spelled_instant(time: datetime, offset: timedelta | None) -> str:
    """``time`` as the envelope writes it; ValidationError if it is naive."""
    spelled: str = _INSTANT.dump_python(_INSTANT.validate_python(time), mode="json")
    return spelled


def notification_payload(data: NotificationData, *, id: str, time: datetime) -> str:
    """`notification_envelope(data, id=id, time=time)` as the outbox keeps it: compact
    JSON text, non-ASCII escaped (`json.dumps`).

    Built without the envelope model: `data` is a model, validated when it was made,
    and the other attributes are residuo's own constants, `id` (a UUID the ledger
    derives) and `time`, which is checked and written as the envelope would
    (`ValidationError` when naive). What a sweep needs to queue thousands of
    notifications a second; the text is the same as the model's, attribute order
    included (`tests/unit/test_notification_payload.py`).
    """
    attributes: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": id,
        "source": NOTIFICATION_SOURCE,
        "type": data.TYPE,
        "time": _spelled_instant(time, time.utcoffset()),
        "datacontenttype": JSON_CONTENT_TYPE,
    }
    if isinstance(data, CustomerNotification):
        attributes["subject"] = data.customer_id
    # Written in Rust (orjson, pydantic's own JSON) and joined, `data` last as in the
    # envelope: a third of the cost of `json.dumps` over `model_dump`. The two
    # writers spell ASCII text as `json.dumps` does, DEL (U+007F) apart, which they
    # leave raw; any text with either falls back to `json.dumps`, which escapes them.
    text = f'{orjson.dumps(attributes).decode()[:-1]},"data":{data.model_dump_json()}}}'
    if text.isascii() and "\x7f" not in text:
        return text
    attributes["data"] = data.model_dump(mode="json")
    return _COMPACT.encode(attributes)


def parse_notification(body: bytes | str | Mapping[str, Any]) -> tuple[str, NotificationData]:
    """Read a notification back: its type and its validated `data` model.

    Raises `InvalidEvent` like `parse_inbound` does.
    """
    text, decoded = load_object(body)
    event_type = header(decoded, "type")
    model = NOTIFICATION_TYPES.get(event_type or "")
    if event_type is None or model is None:
        raise InvalidEvent(
            "unknown_type",
            f"type: {decoded.get('type')!r} is not a notification type",
            event_id=header(decoded, "id"),
            event_type=event_type,
        )
    try:
        envelope = _ReceivedEvent.model_validate_json(text)
    except ValidationError as error:
        raise rejection(error, decoded) from error
    try:
        # `data` is checked again as JSON text so that strict JSON rules apply to it.
        return event_type, model.model_validate_json(json.dumps(envelope.data))
    except ValidationError as error:
        raise rejection(error, decoded, prefix=("data",)) from error
