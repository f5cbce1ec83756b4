"""The errors the wire raises.

One root, `MessageError`, so a caller can catch everything this package raises in one
place; `InvalidEvent` is the only concrete error: a body that can never become a valid
event. It is final by nature (retrying the same bytes gives the same answer), so the
worker dead-letters it and tells ops with `event.rejected`, using the fields below.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["InvalidEvent", "MessageError", "RejectionReason"]

RejectionReason = Literal[
    "bad_json",
    "not_an_object",
    "unknown_type",
    "bad_schema",
    "bad_amount",
    "wrong_currency",
    "naive_timestamp",
]
"""Why a body was refused, as a short code ops can count and filter on."""


class MessageError(Exception):
    """Root of every error raised by `messages`."""


class InvalidEvent(MessageError):  # noqa: N818 - the name workers and docs use
    """A body that can never be a valid event, with what ops need to find it.

    `detail` names the offending field path (``data.amount: ...``). `event_id` and
    `event_type` are filled whenever they could be read from the body, even when the
    rest of it is invalid, so a refused event can be traced back to its publisher.
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
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.event_id = event_id
        self.event_type = event_type

    def __reduce__(
        self,
    ) -> tuple[type[InvalidEvent], tuple[RejectionReason, str], dict[str, str | None]]:
        # Keyword-only fields are lost by the default exception pickling; result
        # backends and process pools pickle exceptions.
        state = {"event_id": self.event_id, "event_type": self.event_type}
        return (type(self), (self.reason, self.detail), state)
