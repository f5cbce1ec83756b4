"""How an idle relay learns that notifications were queued: a wake-up, or the poll.

On PostgreSQL every insert into ``outbox`` notifies ``OUTBOX_CHANNEL`` when its
transaction commits (a trigger, migration 0005_perf). ``ListeningWakeup`` keeps one
connection of its own ``LISTEN``ing there, so the relay publishes a notification as
soon as the change it reports commits rather than at its next poll. The poll stays
as the fallback: a wait never lasts longer than the poll interval, and a listening
connection that fails is dropped and opened again at the next wait, the relay
polling meanwhile. SQLite has no ``NOTIFY``: ``PollingWakeup`` just waits the
interval.
"""

import time
from threading import Event
from typing import Any, Final, Protocol

import psycopg
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ledger.store.schema import OUTBOX_CHANNEL
from workers.backoff import wait_ms

__all__ = ["ListeningWakeup", "PollingWakeup", "Wakeup", "wakeup_for"]

# How often a wait checks the stop event while it listens: the longest a relay
# takes to notice it was asked to stop.
_STOP_CHECK_S: Final = 0.2

_logger = structlog.get_logger(__name__)


class Wakeup(Protocol):
    """What an idle relay waits on."""

    def wait(self, stop: Event, timeout_ms: int) -> bool:
        """Wait until outbox rows may have been queued, ``stop`` is set, or
        ``timeout_ms`` passed; True when woken because rows may have been queued."""
        ...

    def close(self) -> None:
        """Release what the wake-up holds; a later ``wait`` opens it again."""
        ...


class PollingWakeup:
    """No wake-up: every wait lasts the whole interval (or until ``stop``)."""

    def wait(self, stop: Event, timeout_ms: int) -> bool:
        wait_ms(stop, timeout_ms)
        return False

    def close(self) -> None:
        """Nothing to release."""


class ListeningWakeup:
    """``LISTEN OUTBOX_CHANNEL`` on a connection of its own, taken from ``engine``'s
    pool and detached from it (it stays in autocommit, listening, for good)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: psycopg.Connection[Any] | None = None

    def wait(self, stop: Event, timeout_ms: int) -> bool:
        """True at once when the listening connection had to be (re)opened: rows
        committed before it listened notified nobody, so the caller must look."""
        if self._connection is None:
            return self._listen(stop, timeout_ms)
        connection = self._connection
        deadline = time.monotonic() + timeout_ms / 1000
        while not stop.is_set():
            remaining = max(0.0, deadline - time.monotonic())
            try:
                received = list(
                    connection.notifies(timeout=min(remaining, _STOP_CHECK_S), stop_after=1)
                )
                if received:
                    # One look at the outbox answers every notification received.
                    for _ in connection.notifies(timeout=0):
                        pass
                    return True
            except psycopg.Error as error:
                _logger.warning("outbox listener lost: polling", error=str(error))
                self.close()
                return False
            if remaining <= _STOP_CHECK_S:
                return False
        return False

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _listen(self, stop: Event, timeout_ms: int) -> bool:
        try:
            pooled = self._engine.raw_connection()
        except DBAPIError as error:
            _logger.warning("outbox listener unavailable: polling", error=str(error))
            wait_ms(stop, timeout_ms)
            return False
        connection = pooled.driver_connection
        pooled.detach()
        assert isinstance(connection, psycopg.Connection), "PostgreSQL is reached with psycopg"
        try:
            connection.rollback()
            connection.autocommit = True
            connection.execute(f"LISTEN {OUTBOX_CHANNEL}")
        except psycopg.Error as error:
            connection.close()
            _logger.warning("outbox listener unavailable: polling", error=str(error))
            wait_ms(stop, timeout_ms)
            return False
        self._connection = connection
        return True


def wakeup_for(engine: Engine) -> Wakeup:
    """``ListeningWakeup`` on PostgreSQL, ``PollingWakeup`` elsewhere."""
    if engine.dialect.name == "postgresql":
        return ListeningWakeup(engine)
    return PollingWakeup()
