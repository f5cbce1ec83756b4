"""Events about the same subject applied in the order this worker took them.

A worker's threads take inbound events off the queue in delivery order, then race:
a customer's payment and the failure delivered a millisecond after it reach the
ledger in either order. The books come out the same either way (``ledger.timeline``),
but the event that lost the race finds its customer's books written past it and
derives the customer's component again: correct, and the costliest thing an event
can do, the more so for a customer with a long history. In the benchmark's story,
where a customer's four events follow each other on the queue, those derivations
took a fifth of the worker's CPU.

So each inbound event takes a ticket when its actor starts (``DeliveryOrder.ticket``),
in the order the threads took the messages; once the ledger knows the event's
subjects (``Ledger.record``'s ``in_turn``), the event waits until no event with an
earlier ticket, still in flight, shares a subject with it or has yet to name its own.
Events about other customers never wait for each other.

Ordering here saves work; it is never what the books' correctness rests on (the
ledger's locks and timeline are). Hence a wait never lasts more than ``max_wait_s``,
after which the event goes ahead as it would have without a ticket, and events in
other worker processes are not ordered against these (RabbitMQ's delivery to
several consumers is not ordered either).
"""

import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from typing import Final

import structlog

__all__ = ["DEFAULT_MAX_WAIT_S", "DeliveryOrder", "Turn"]

DEFAULT_MAX_WAIT_S: Final = 5.0
"""Seconds an event waits at most for earlier ones: far above the few milliseconds
an event takes, far below Dramatiq's ten-minute time limit."""

_logger = structlog.get_logger(__name__)


class DeliveryOrder:
    """The tickets of the inbound events in flight in one worker process; thread-safe."""

    def __init__(self, *, max_wait_s: float = DEFAULT_MAX_WAIT_S) -> None:
        if max_wait_s < 0:
            raise ValueError("max_wait_s must not be negative")
        self.max_wait_s = max_wait_s
        self._changed = threading.Condition()
        self._tickets = count()
        # Ticket → the event's subjects, None until the ledger has named them.
        self._in_flight: dict[int, frozenset[str] | None] = {}

    @contextmanager
    def ticket(self) -> Iterator["Turn"]:
        """A ticket for one event, given back when the block ends, however it ends."""
        with self._changed:
            number = next(self._tickets)
            self._in_flight[number] = None
        try:
            yield Turn(self, number)
        finally:
            with self._changed:
                del self._in_flight[number]
                self._changed.notify_all()

    def in_flight(self) -> int:
        """How many events hold a ticket now."""
        with self._changed:
            return len(self._in_flight)

    def wait_turn(self, number: int, subjects: frozenset[str], *, deadline: float) -> bool:
        """What ``Turn.wait`` does for ticket ``number``, giving up at ``deadline`` (a
        ``time.monotonic()`` reading)."""
        waited = False
        with self._changed:
            self._in_flight[number] = subjects
            self._changed.notify_all()
            while self._earlier_about(number, subjects):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    # The worker's log context names the event (``BindLogContext``).
                    _logger.info(
                        "event went ahead of an earlier one about the same subjects",
                        max_wait_s=self.max_wait_s,
                        in_flight=len(self._in_flight),
                    )
                    return waited
                waited = True
                self._changed.wait(remaining)
        return waited

    def _earlier_about(self, number: int, subjects: frozenset[str]) -> bool:
        # At most one entry per worker thread: a scan costs less than an index would.
        return any(
            other < number and (named is None or not named.isdisjoint(subjects))
            for other, named in self._in_flight.items()
        )


@dataclass(slots=True)
class Turn:
    """One event's ticket: ``wait`` is what ``Ledger.record`` calls as ``in_turn``."""

    order: DeliveryOrder
    number: int
    deadline: float | None = None

    def wait(self, subjects: Collection[str]) -> bool:
        """Name this event's ``subjects`` and block until every earlier event in flight
        about one of them, or not yet named, is done: ``max_wait_s`` at most from this
        event's first wait, however many times it is called.

        Returns whether it waited: the earlier events may have booked what changes
        the subjects (a payment names its order's owner), so the caller reads them
        again and calls once more.
        """
        if self.deadline is None:
            self.deadline = time.monotonic() + self.order.max_wait_s
        return self.order.wait_turn(self.number, frozenset(subjects), deadline=self.deadline)
