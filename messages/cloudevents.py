"""The CloudEvents 1.0 envelope, structured JSON mode, for both directions.

residuo is stricter than the CloudEvents specification in two ways, both on purpose:
`time` is required (rules judge events at business time and ops read it), and
extension attributes are refused like any unknown field, so a misspelt ``subjet``
is reported instead of silently ignored.
"""

from __future__ import annotations

from typing import Final, Generic, Literal, TypeVar

from pydantic import AwareDatetime

from messages._fields import EventId, EventType, Text, WireModel

__all__ = ["JSON_CONTENT_TYPE", "SPECVERSION", "CloudEvent"]

SPECVERSION: Final = "1.0"
JSON_CONTENT_TYPE: Final = "application/json"

DataT = TypeVar("DataT")


class CloudEvent(WireModel, Generic[DataT]):
    """One event: routing attributes around a typed `data` payload.

    `id` is the idempotency key of inbound events; `time` must carry an
    offset. Subclasses narrow `type` to a `Literal` to make a tagged union.
    """

    specversion: Literal["1.0"]
    id: EventId
    source: Text
    type: EventType
    time: AwareDatetime
    datacontenttype: Literal["application/json"] | None = None
    subject: Text | None = None
    dataschema: Text | None = None
    data: DataT
