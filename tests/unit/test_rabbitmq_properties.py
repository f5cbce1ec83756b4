"""Headers pika cannot decode: whole content header frames, decoded by pika's own
``decode_frame``, give properties instead of an error that would abort the
connection. Built byte by byte, as any AMQP client may send them."""

from __future__ import annotations

import struct

import pika.frame
import pika.spec
import pytest

from workers.rabbitmq.properties import (
    UnreadableHeadersProperties,
    read_unreadable_headers,
    unreadable_headers,
)

pytestmark = pytest.mark.reliability

_FRAME_HEADER = 2
_FRAME_END = b"\xce"
_BASIC = 60
_FLAGS = pika.spec.BasicProperties


def short_string(text: bytes) -> bytes:
    return struct.pack("B", len(text)) + text


def properties_bytes(table: bytes | None, *, message_id: bytes = b"m-1") -> bytes:
    """A property list: content type, the header ``table`` (if any), delivery mode and
    a message id, so that properties both before and after the table are there."""
    flags = _FLAGS.FLAG_CONTENT_TYPE | _FLAGS.FLAG_DELIVERY_MODE | _FLAGS.FLAG_MESSAGE_ID
    pieces = [short_string(b"application/json")]
    if table is not None:
        flags |= _FLAGS.FLAG_HEADERS
        pieces.append(struct.pack(">I", len(table)) + table)
    pieces += [struct.pack("B", 2), short_string(message_id)]
    return struct.pack(">H", flags) + b"".join(pieces)


def decoded(properties: bytes) -> pika.spec.BasicProperties:
    """What pika makes of a content header frame carrying ``properties``."""
    payload = struct.pack(">HHQ", _BASIC, 0, 5) + properties
    frame = struct.pack(">BHL", _FRAME_HEADER, 1, len(payload)) + payload + _FRAME_END
    read_unreadable_headers()
    consumed, header = pika.frame.decode_frame(frame)
    assert consumed == len(frame)
    assert isinstance(header, pika.frame.Header)
    return header.properties


def nested(kind: bytes, depth: int) -> bytes:
    """A header ``a`` holding tables (``F``) or arrays (``A``) ``depth`` levels deep."""
    value = b""
    for _ in range(depth):
        inner = (b"\x01a" + kind if kind == b"F" else kind) + struct.pack(">I", len(value))
        value = inner + value
    return b"\x01a" + value if kind == b"A" else value


@pytest.mark.parametrize(
    ("table", "error"),
    [
        (nested(b"F", 2_000), "RecursionError"),
        (nested(b"A", 2_000), "RecursionError"),
        (b"\x01tT" + struct.pack(">Q", 2**62), "Error"),  # a timestamp past year 9999
        (b"\x01a?", "InvalidFieldTypeException"),  # a field type AMQP does not have
    ],
    ids=["nested tables", "nested arrays", "far timestamp", "unknown field type"],
)
def test_headers_pika_cannot_decode_leave_the_other_properties_readable(
    table: bytes, error: str
) -> None:
    """The frame decodes: headers unset, why in ``unreadable_headers``, and the
    properties before and after the table read as sent."""
    properties = decoded(properties_bytes(table))

    assert isinstance(properties, UnreadableHeadersProperties)
    assert properties.headers is None
    reason = unreadable_headers(properties)
    assert reason is not None and error in reason.split(":")[0]
    assert (properties.content_type, properties.delivery_mode, properties.message_id) == (
        "application/json",
        2,
        "m-1",
    )


def test_readable_headers_are_read_as_pika_reads_them() -> None:
    """Nothing changes for a table pika can decode."""
    properties = decoded(properties_bytes(b"\x01aS\x00\x00\x00\x02hi"))

    assert properties.headers == {"a": "hi"}
    assert unreadable_headers(properties) is None


def test_a_failure_outside_the_headers_is_pikas_as_before() -> None:
    """Only the header table is set aside: a property list cut short elsewhere (no
    table to blame) fails as pika fails it."""
    flags_and_content_type = 2 + 1 + len(b"application/json")
    truncated = properties_bytes(None)[:flags_and_content_type]  # no delivery mode octet

    with pytest.raises(struct.error):
        decoded(truncated)


def test_properties_of_another_origin_have_no_unreadable_headers() -> None:
    """Properties built by hand, or none at all, are never taken for unreadable."""
    assert unreadable_headers(pika.BasicProperties(headers={"a": 1})) is None
    assert unreadable_headers(None) is None
