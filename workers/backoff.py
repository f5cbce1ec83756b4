"""Waiting between attempts: doubling delays, deadlines, all in integer milliseconds.

Shared by everything that reconnects (publishers, the relay): one schedule, one place
where milliseconds become the seconds ``time.sleep`` wants.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from threading import Event

__all__ = ["Deadline", "delays_ms", "sleep_ms", "wait_ms"]

_NS_PER_MS = 1_000_000


def delays_ms(*, first_ms: int, max_ms: int) -> Iterator[int]:
    """``first_ms``, twice that, and so on, never more than ``max_ms``; endless."""
    delay = first_ms
    while True:
        yield delay
        delay = min(delay * 2, max_ms)


def sleep_ms(ms: int) -> None:
    """Block this thread for ``ms`` milliseconds."""
    time.sleep(ms / 1000)


def wait_ms(event: Event, ms: int) -> bool:
    """Wait at most ``ms`` milliseconds for ``event``; whether it is set."""
    return event.wait(ms / 1000)


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point on the monotonic clock, ``ms`` from when it was made."""

    at_ns: int

    @classmethod
    def after_ms(cls, ms: int) -> "Deadline":
        return cls(time.monotonic_ns() + ms * _NS_PER_MS)

    def allows_ms(self, ms: int) -> bool:
        """Whether waiting ``ms`` more milliseconds still ends before the deadline."""
        return time.monotonic_ns() + ms * _NS_PER_MS <= self.at_ns
