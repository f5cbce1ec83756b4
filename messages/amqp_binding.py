"""CloudEvents over AMQP: reading an event sent in binary content mode.

The CloudEvents AMQP protocol binding has two content modes. In *structured* mode
(residuo's own, and the default) the message body is the whole CloudEvent as JSON.
In *binary* mode the body is the event's `data` alone, every other attribute is an
application property (a header, in AMQP 0-9-1) named ``cloudEvents_<attribute>``
(``cloudEvents:<attribute>`` is also allowed by the binding), and `datacontenttype`
is the message's ``content-type``.

The binding tells the modes apart by ``content-type``: one starting with
``application/cloudevents`` is structured. residuo also takes a body without that
content type as structured, as it always has, unless the message carries a
``cloudEvents_specversion`` (or ``cloudEvents:specversion``) header: then it is
binary. `structured_event` turns a binary message into the structured event it
stands for, so the rest of the pipeline (validation, dead letters, replays) knows one
form only.

The binding tells the modes apart by media type, and media types are compared
without regard to case (RFC 9110 §8.3.1): ``Application/CloudEvents+JSON`` is
structured mode too.

Header values arrive with AMQP types. Strings, integers and booleans are kept; an
AMQP timestamp becomes its ISO 8601 form in UTC; anything else is kept as the nearest
JSON value and judged by validation like any attribute. A byte array (AMQP 0-9-1
``x``: Java's ``byte[]``, Go's ``[]byte``, what the .NET client hands back on receipt)
is how many clients send text: as the value of an attribute whose type is String,
URI, URI-reference or Timestamp (every core attribute, and the distributed-tracing
extension's ``traceparent`` and ``tracestate``), it is read as UTF-8, and bytes that
are not UTF-8 refuse the event (``bad_schema``, naming the header). Any other
extension's byte array becomes base64, the canonical string of the CloudEvents
Binary type.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from messages.cloudevents import CORE_ATTRIBUTES
from messages.errors import InvalidEvent
from messages.inbound import decode_body

__all__ = ["ATTRIBUTE_PREFIXES", "STRUCTURED_CONTENT_TYPE", "structured_event"]

ATTRIBUTE_PREFIXES: Final = ("cloudEvents_", "cloudEvents:")
"""How binary mode names an attribute's header; the first is the binding's preferred."""

STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents"
"""The media type prefix that marks structured mode (``application/cloudevents+json``),
in lower case: a content type is compared in lower case."""

TEXT_ATTRIBUTES: Final = frozenset(
    {*(name for name in CORE_ATTRIBUTES if name != "data"), "traceparent", "tracestate"}
)
"""Attributes whose values are text (String, URI, URI-reference, Timestamp): a byte
array sent for one of them is its UTF-8 encoding."""


def structured_event(
    headers: Mapping[str, Any] | None, content_type: str | None, body: bytes
) -> dict[str, Any] | None:
    """The structured CloudEvent a binary-mode message stands for; None if the message
    is in structured mode (see the module).

    `data` is the body read as a JSON object; a body that is not one (or is nested
    deeper than a structured event may be) is kept as text, so that validation refuses
    it under the event's own id and type. An empty body leaves
    `data` out.

    Raises `InvalidEvent` (``bad_schema``) when a text attribute's byte array is not
    UTF-8, with the event's id and type if they could be read.
    """
    if content_type is not None and content_type.lower().startswith(STRUCTURED_CONTENT_TYPE):
        return None
    attributes = _attributes(headers or {})
    if "specversion" not in attributes:
        return None
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    if body:
        attributes["data"] = _data(body)
    return attributes


def _attributes(headers: Mapping[Any, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    not_text: list[str] = []
    # The binding's preferred separator wins if a sender used both for one attribute.
    for prefix in reversed(ATTRIBUTE_PREFIXES):
        for name, value in headers.items():
            # A header name that is not UTF-8 comes as bytes: it names no attribute.
            if isinstance(name, str) and name.startswith(prefix) and len(name) > len(prefix):
                attribute = name[len(prefix) :]
                if isinstance(value, bytes) and attribute in TEXT_ATTRIBUTES:
                    try:
                        found[attribute] = value.decode("utf-8")
                    except UnicodeDecodeError as error:
                        not_text.append(f"{name}: a byte array that is not UTF-8 text ({error})")
                    continue
                found[attribute] = _json_value(value)
    if not_text:
        raise InvalidEvent(
            "bad_schema",
            "; ".join(not_text),
            event_id=_text(found.get("id")),
            event_type=_text(found.get("type")),
        )
    return found


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(key): _json_value(each) for key, each in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(each) for each in value]
    return value


def _data(body: bytes) -> Any:
    try:
        # Read as a structured body is: nesting bounded, any decoder failure refused.
        return decode_body(body)
    except InvalidEvent:
        # Kept byte for byte: undecodable bytes travel as surrogate escapes.
        return body.decode("utf-8", errors="surrogateescape")
