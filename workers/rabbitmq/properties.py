"""Message properties whose headers pika cannot read, received instead of fatal.

pika decodes a message's properties (its content header frame) on the connection's
I/O path, before any consumer code sees the message. A header table that its decoder
cannot take aborts the whole connection: a field table nested a few hundred levels
deep exhausts the recursion (``RecursionError``), an AMQP timestamp past year 9999
has no ``datetime`` (``OverflowError``, ``OSError``), an unknown field type is
refused. RabbitMQ accepts all of these from any client; a consumer that dies on one
never acknowledges it, RabbitMQ delivers it again to the next consumer, and the
queue stalls behind it for good, with nothing dead-lettered and nobody told.

`UnreadableHeadersProperties` decodes like pika's ``BasicProperties``; when the
header table fails, it decodes the other properties without it (the table is
length-prefixed, AMQP 0-9-1 §4.2.5.3, so the bytes after it are found without
reading it), leaves ``headers`` unset and says why in ``unreadable_headers``. The
message is then received like any other, and its consumer decides its fate
(``consumer.ResiduoConsumer`` dead-letters it, ``bad_headers``).

pika picks the class of a content header's properties from ``pika.spec.props``, the
table of its generated AMQP specification keyed by class id; `read_unreadable_headers`
puts this class there for ``basic`` (60), for every connection of the process. That
is the one point where pika lets a frame's decoding be replaced without touching
its private names; ``tests/unit/test_rabbitmq_properties.py`` decodes whole frames
through ``pika.frame.decode_frame`` so that a pika release that stops reading the
table fails a test rather than a queue.
"""

from __future__ import annotations

import struct
from typing import Any, Final

import pika.spec

__all__ = ["UnreadableHeadersProperties", "read_unreadable_headers", "unreadable_headers"]

_BASE: Final = pika.spec.BasicProperties
_MORE_FLAGS: Final = 1
"""The last bit of a property flags word: another flags word follows."""


class UnreadableHeadersProperties(pika.spec.BasicProperties):  # type: ignore[misc]
    """``BasicProperties`` that survive a header table pika cannot decode.

    ``unreadable_headers`` is None when the headers were read, else the decoder's
    error in one line (``RecursionError: maximum recursion depth exceeded``), with
    ``headers`` None and every other property decoded.
    """

    unreadable_headers: str | None = None

    def decode(self, encoded: bytes, offset: int = 0) -> UnreadableHeadersProperties:
        try:
            super().decode(encoded, offset)
        except Exception as error:
            without = _without_headers(encoded, offset)
            if without is None:
                raise
            super().decode(without, 0)
            self.unreadable_headers = _one_line(error)
        return self


def read_unreadable_headers() -> None:
    """Make every pika connection of this process decode properties with
    `UnreadableHeadersProperties` (idempotent)."""
    pika.spec.props[_BASE.INDEX] = UnreadableHeadersProperties


def unreadable_headers(properties: Any) -> str | None:
    """Why the headers of a received message's ``properties`` could not be read, or
    None if they were (or the properties are not pika's)."""
    reason = getattr(properties, "unreadable_headers", None)
    return reason if isinstance(reason, str) else None


def _without_headers(encoded: bytes, offset: int) -> bytes | None:
    """The property list at ``offset`` with its header table cut out, or None if it
    has none (the failure was elsewhere) or cannot be walked."""
    try:
        (flags,) = struct.unpack_from(">H", encoded, offset)
        if flags & _MORE_FLAGS or not flags & _BASE.FLAG_HEADERS:
            return None
        position = offset + 2
        # Only the two short strings before the table need skipping: a length octet,
        # then that many bytes.
        for flag in (_BASE.FLAG_CONTENT_TYPE, _BASE.FLAG_CONTENT_ENCODING):
            if flags & flag:
                position += 1 + encoded[position]
        (table_length,) = struct.unpack_from(">I", encoded, position)
    except (struct.error, IndexError):
        return None
    after = position + 4 + table_length
    if after > len(encoded):
        return None
    kept_flags = struct.pack(">H", flags & ~_BASE.FLAG_HEADERS)
    return kept_flags + bytes(encoded[offset + 2 : position]) + bytes(encoded[after:])


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
