"""What an inbound event may be at most: how large its body, how far its instants.

Shape is `parse_inbound`'s job; these are the bounds a worker applies on top of it,
at the edge, before anything is booked. Both are settings, so they are checked here
rather than in the models, which the ledger also uses to re-read events it already
accepted:

* **size**: a body larger than `InboundBounds.max_body_bytes` (1 MiB unless set) is
  refused unread, ``body_too_large``;
* **time**: an instant before `earliest` or from `latest` on is refused,
  ``implausible_timestamp``. Every date the rules derive from an event (its credit's
  expiry, its SPID deadline, a hold's due date, the reminders before them) must be
  representable, and a year-9999 payment has an expiry in year 10000; the settings
  check that the window leaves room for the policy's longest horizon.

Nesting depth is not a setting: `parse_inbound` refuses any body nested deeper than
``messages._wire.MAX_NESTING_DEPTH`` as ``bad_json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from pydantic import BaseModel

from messages.adjustments import Adjustment
from messages.errors import InvalidEvent
from messages.inbound import InboundEvent

__all__ = [
    "DEFAULT_EARLIEST",
    "DEFAULT_LATEST",
    "DEFAULT_MAX_BODY_BYTES",
    "InboundBounds",
]

DEFAULT_MAX_BODY_BYTES: Final = 1_048_576
"""1 MiB: a thousand times the largest event of the contract."""

DEFAULT_EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class InboundBounds:
    """The size and time window an inbound event must fit; ``earliest <= t < latest``."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    earliest: datetime = DEFAULT_EARLIEST
    latest: datetime = DEFAULT_LATEST

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        if self.earliest.tzinfo is None or self.latest.tzinfo is None:
            raise ValueError("the time window's ends need an offset")
        if self.earliest >= self.latest:
            raise ValueError("the time window is empty: earliest must precede latest")

    def check_size(self, body: bytes) -> None:
        """Raise `InvalidEvent` (``body_too_large``) if ``body`` exceeds the limit.

        The body is not read: its id and type are not reported.
        """
        if len(body) > self.max_body_bytes:
            raise InvalidEvent(
                "body_too_large",
                f"the body is {len(body)} bytes, more than the {self.max_body_bytes} accepted",
            )

    def check_times(self, event: InboundEvent | Adjustment) -> None:
        """Raise `InvalidEvent` (``implausible_timestamp``) naming the first instant of
        ``event`` outside the window; an operator's adjustment is held to the same
        window, since the books derive the same dates from it."""
        for path, instant in _instants(event):
            if not self.earliest <= instant < self.latest:
                raise InvalidEvent(
                    "implausible_timestamp",
                    f"{path}: {instant.isoformat()} is outside the accepted window "
                    f"[{self.earliest.isoformat()}, {self.latest.isoformat()})",
                    event_id=event.id,
                    event_type=event.type,
                )


def _instants(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, datetime]]:
    """Every datetime of ``model`` and of the models it holds, with its field path."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{prefix}{name}"
        if isinstance(value, datetime):
            yield path, value
        elif isinstance(value, BaseModel):
            yield from _instants(value, f"{path}.")
