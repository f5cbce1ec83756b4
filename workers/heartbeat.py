"""A loop's heartbeat: whether it did its job lately and has not failed since.

What ``residuo_process_ready`` reads (``residuo.telemetry.Readiness``): a loop (the
relay's, the scheduler's, one consumer's) beats after each round that did its job
and may report a round that failed. It is alive from a beat until a failure, or
until ``within`` passes without another beat: a round stuck (a publish blocked by
a broker's memory alarm) or a loop gone counts as not alive, not just an error.
"""

import time
from collections.abc import Callable
from datetime import timedelta

__all__ = ["Heartbeat"]


class Heartbeat:
    """One loop's last good round, on the monotonic clock.

    Parameters:
      within: how long a beat counts; past it without another, the loop is not alive.
      clock: seconds on a monotonic clock (``time.monotonic``; tests pass their own).
    """

    def __init__(self, *, within: timedelta, clock: Callable[[], float] = time.monotonic) -> None:
        self._within_s = within.total_seconds()
        self._clock = clock
        # One attribute, replaced whole: the metrics server's thread reads it while
        # the loop's thread writes it.
        self._last_beat_s: float | None = None

    def beat(self) -> None:
        """A round did its job, now."""
        self._last_beat_s = self._clock()

    def failed(self) -> None:
        """A round failed: not alive until the next beat."""
        self._last_beat_s = None

    def alive(self) -> bool:
        """Whether the last beat is no older than ``within`` and no failure came since."""
        last = self._last_beat_s
        return last is not None and self._clock() - last <= self._within_s
