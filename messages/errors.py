"""The errors the wire raises.

One root, `MessageError`, so a caller can catch everything this package raises in one
place; `InvalidEvent` is the only concrete error: a body that can never become a valid
event. It is final by nature (retrying the same bytes gives the same answer), so the
worker dead-letters it and tells ops with `event.rejected`, using the fields below.
"""

from __future__ import annotations

import hashlib
from typing import Final, Literal

from messages import limits
from messages._fields import CONTROL_CHARACTER

__all__ = [
    "BODY_ID_PREFIX",
    "REPORTED_ID_MAX_LENGTH",
    "REPORTED_TYPE_MAX_LENGTH",
    "InvalidEvent",
    "MessageError",
    "RejectionReason",
    "body_id",
]

RejectionReason = Literal[
    "bad_json",
    "not_an_object",
    "unknown_type",
    "bad_schema",
    "bad_amount",
    "wrong_currency",
    "naive_timestamp",
    "implausible_timestamp",
    "body_too_large",
    "bad_headers",
]
"""Why a body was refused, as a short code ops can count and filter on. ``bad_headers``:
the AMQP message carrying it had headers no client could read (``workers.ingress``)."""


REPORTED_ID_MAX_LENGTH: Final = limits.EVENT_ID_MAX_LENGTH
REPORTED_TYPE_MAX_LENGTH: Final = limits.EVENT_TYPE_MAX_LENGTH
"""The longest `event_id` and `event_type` an `InvalidEvent` reports: what the ledger
keeps of them, so that an absurd id cannot make the report itself fail."""


BODY_ID_PREFIX: Final = "sha256:"


def body_id(body: bytes) -> str:
    """The id of a body as it stands, whatever it holds: ``sha256:`` and its SHA-256 in hex.

    It names a refused event (the ``rejected_events`` key, ``event.rejected``'s
    `dead_letter_id`) and the dead letter that carries it (``residuo dead-letters``),
    so ops use one id for both, even for a body with no readable event id.
    """
    return BODY_ID_PREFIX + hashlib.sha256(body).hexdigest()


class MessageError(Exception):
    """Root of every error raised by `messages`."""


class InvalidEvent(MessageError):  # noqa: N818 - the name workers and docs use
    """A body that can never be a valid event, with what ops need to find it.

    `detail` names the offending field path (``data.amount: ...``). `event_id` and
    `event_type` are filled whenever they could be read from the body, even when the
    rest of it is invalid, so a refused event can be traced back to its publisher.

    All three are made safe to store, to put in an AMQP header and to print, since
    they are read from a body that is by definition wrong: characters that are not
    Unicode (lone surrogates, which JSON's ``\\ud800`` escapes can produce) and
    control characters (an escape sequence, a newline) are written as backslash
    escapes, and `event_id` and `event_type` are cut to
    `REPORTED_ID_MAX_LENGTH` and `REPORTED_TYPE_MAX_LENGTH` characters.
    """

    reason: RejectionReason
    detail: str
    event_id: str | None
    event_type: str | None

    def __init__(
        self,
        reason: RejectionReason,
        detail: str,
        *,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> None:
        detail = _printable(detail)
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.event_id = _reported(event_id, REPORTED_ID_MAX_LENGTH)
        self.event_type = _reported(event_type, REPORTED_TYPE_MAX_LENGTH)

    def __reduce__(
        self,
    ) -> tuple[type[InvalidEvent], tuple[RejectionReason, str], dict[str, str | None]]:
        # Keyword-only fields are lost by the default exception pickling; result
        # backends and process pools pickle exceptions.
        state = {"event_id": self.event_id, "event_type": self.event_type}
        return (type(self), (self.reason, self.detail), state)


def _printable(text: str) -> str:
    # A lone surrogate cannot be encoded as UTF-8: the database and pika would both
    # refuse it. Its escape (``\ud800``) is plain text that still shows what was sent,
    # and so is ``\x1b`` for a control character a terminal would obey.
    unicode = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return CONTROL_CHARACTER.sub(lambda found: f"\\x{ord(found.group()):02x}", unicode)


def _reported(value: str | None, max_length: int) -> str | None:
    if value is None:
        return None
    printable = _printable(value)
    if len(printable) <= max_length:
        return printable
    return printable[: max_length - 3] + "..."
