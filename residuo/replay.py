"""Replay files: inbound events and sweeps, one JSON object a line, through the real actors.

A line is either an inbound CloudEvent, sent as received (bytes and all) through
ingress to its actor, or a sweep line ``{"type": "sweep", "kind": …, "as_of": …}``
sent to the sweep actors (``all`` is every kind, in dependency order). Each line is
settled, and the outbox relayed, before the next one is read: the order of the file
is the order of the books and of the notifications.

Only the notifications the replay's own lines wrote are relayed (and marked
published): the outbox rows its engine inserted, whatever else the database holds.
On PostgreSQL the replay also holds the relays' lease while it runs, so a
``residuo relay`` cannot take those rows to RabbitMQ meanwhile, and it refuses to
start while a relay is active (``RelayActiveError``).
"""

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import Connection, Engine, Insert, event

from ledger.store import schema
from ledger.store.uow import INSERTED_ROWS
from ledger.sweeps import SWEEPS
from residuo.bootstrap import Runtime
from workers.embedded import Delivery, EmbeddedWorker
from workers.ingress import route
from workers.relay import Publisher, relay_lease, relay_notifications

__all__ = [
    "SWEEP_LINE_TYPE",
    "BadLineError",
    "EventLine",
    "LineOutcome",
    "NotificationsWritten",
    "Replayer",
    "SweepLine",
    "aware_instant",
    "parse_line",
    "replaying",
    "split_lines",
]

SWEEP_LINE_TYPE = "sweep"
_SWEEP_KINDS = ("all", *SWEEPS)


class BadLineError(ValueError):
    """A sweep line that can never run (unknown kind, naive ``as_of``, stray fields)."""


@dataclass(frozen=True, slots=True)
class EventLine:
    """An inbound event, kept as the exact bytes read; ``time`` when it could be read."""

    body: bytes
    time: datetime | None


@dataclass(frozen=True, slots=True)
class SweepLine:
    """A sweep to run at business time ``as_of``."""

    kind: str
    as_of: datetime


ReplayLine = EventLine | SweepLine


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """What one line did: its deliveries and how many notifications it published."""

    number: int
    line: ReplayLine
    deliveries: list[Delivery]
    published: int

    @property
    def problems(self) -> list[Delivery]:
        """The deliveries that were dead-lettered (rejected or failed)."""
        return [each for each in self.deliveries if each.status != "processed"]


def split_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each non-blank line of a replay file's content."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.rstrip(b"\r")
        if line.strip():
            yield number, line


def parse_line(raw: bytes) -> ReplayLine:
    """A sweep line, or else an event line (whose validity is for the actors to judge)."""
    decoded = _json_object(raw)
    if decoded is None or decoded.get("type") != SWEEP_LINE_TYPE:
        return EventLine(raw, aware_instant(decoded.get("time")) if decoded else None)
    if set(decoded) != {"type", "kind", "as_of"}:
        raise BadLineError('a sweep line has exactly "type", "kind" and "as_of"')
    kind, as_of = decoded["kind"], decoded["as_of"]
    if kind not in _SWEEP_KINDS:
        raise BadLineError(f"unknown sweep kind {kind!r}; known: {', '.join(_SWEEP_KINDS)}")
    instant = aware_instant(as_of)
    if instant is None:
        raise BadLineError(f"as_of {as_of!r} is not an ISO 8601 timestamp with an offset")
    return SweepLine(kind, instant)


class NotificationsWritten:
    """The ids of the outbox rows ``engine`` was asked to insert while watched: what
    this process wrote, not what other processes write to the same database.

    A row whose insert was rolled back, or skipped as a twin, is among them too: the
    relay finds no such unpublished row, or the very notification a line caused.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ids: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> "NotificationsWritten":
        event.listen(self._engine, "before_execute", self._seen)
        return self

    def __exit__(self, *exc_info: object) -> None:
        event.remove(self._engine, "before_execute", self._seen)

    def take(self) -> list[str]:
        """The ids seen since the last ``take``."""
        with self._lock:
            taken, self._ids = self._ids, []
        return taken

    def _seen(
        self,
        connection: Connection,
        statement: object,
        multiparams: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        execution_options: Mapping[str, Any],
    ) -> None:
        # A batch (``insert_many``) says what it inserts: on PostgreSQL its statement is
        # text with every row in one JSON parameter.
        batch = execution_options.get(INSERTED_ROWS)
        if batch is not None:
            table, rows = batch
        elif isinstance(statement, Insert):
            table, rows = statement.table, (*multiparams, params)
        else:
            return
        if table is not schema.outbox:
            return
        ids = [row["notification_id"] for row in rows if "notification_id" in row]
        with self._lock:
            self._ids.extend(ids)


class Replayer:
    """Feeds lines through a runtime's actors on a running embedded worker, relaying
    the notifications of each after it (see ``replaying``)."""

    def __init__(
        self,
        runtime: Runtime,
        worker: EmbeddedWorker,
        publisher: Publisher,
        written: NotificationsWritten,
    ) -> None:
        self._runtime = runtime
        self._worker = worker
        self._publisher = publisher
        self._written = written

    def feed(self, number: int, line: ReplayLine) -> LineOutcome:
        """Send ``line`` through the actors, wait until it is settled, relay what it wrote."""
        actors = self._runtime.actors
        messages = (
            [route(line.body, actors, max_body_bytes=self._runtime.settings.max_body_bytes)]
            if isinstance(line, EventLine)
            else actors.sweep_messages(line.kind, line.as_of)
        )
        deliveries = [self._worker.deliver(message) for message in messages]
        published = relay_notifications(
            self._runtime.engine, self._publisher, self._written.take(), clock=self._runtime.clock
        )
        return LineOutcome(number, line, deliveries, published)


@contextmanager
def replaying(runtime: Runtime, publisher: Publisher) -> Iterator[Replayer]:
    """A ``Replayer`` with a Dramatiq worker running on the embedded broker meanwhile,
    holding the relays' lease (``RelayActiveError`` if a relay is active)."""
    if not isinstance(runtime.broker, StubBroker):
        raise TypeError("replay runs on the embedded broker (RESIDUO_BROKER_URL=memory)")
    with (
        relay_lease(runtime.engine),
        NotificationsWritten(runtime.engine) as written,
        EmbeddedWorker(runtime.broker) as worker,
    ):
        yield Replayer(runtime, worker, publisher, written)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(raw)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def aware_instant(text: object) -> datetime | None:
    """``text`` as an ISO 8601 instant, or None unless it is one with an offset."""
    if not isinstance(text, str):
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    return instant if instant.utcoffset() is not None else None
