"""The outbox relay: committed notifications out to a publisher, in order, at least once.

Rows are claimed oldest first (``position``) in bounded batches, handed one by one
to a ``Publisher``, and marked ``published_at`` only after the publisher returned,
which it does only once the message is confirmed. A crash between the two
publishes a row again on the next run: consumers dedupe on the notification ``id``.

``Relay`` is the long-running process (``residuo relay``). Several may run at once:
on PostgreSQL one holds a session advisory lock and publishes, the others stand by
and take over when its session ends (the process died, the connection dropped), so
notifications leave in outbox order, which keeps every customer's in order. The
claim is also ``SELECT … FOR UPDATE SKIP LOCKED``, so even two relays that both
believed they held the lock could never publish the same row at the same time. On
SQLite the transaction holds the database write lock (``BEGIN IMMEDIATE``), which
serialises relays just as well.

A relay is ready (``Relay.is_ready``, ``residuo_process_ready``) while its last round
worked: a batch published, an idle connection to the broker kept alive, or, standing
by, the lease asked of a database that answered. A failure makes it unready until
the next such round; so does a round that takes longer than thirty seconds (or
three poll intervals), such as a publish blocked by a broker's memory alarm.

``residuo replay`` publishes elsewhere (a JSON lines file) and only what it wrote:
``relay_notifications`` relays named rows, and ``relay_lease`` keeps every ``Relay``
standing by meanwhile.
"""

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from threading import Event
from typing import Final, Protocol, TextIO, TypeVar

import structlog
from sqlalchemy import ColumnElement, Connection, Engine, bindparam, func, select, update
from sqlalchemy.exc import DBAPIError

from ledger.store import schema
from ledger.store.database import WRITE_TRANSACTION
from workers.backoff import delays_ms, wait_ms
from workers.errors import WorkerError
from workers.heartbeat import Heartbeat
from workers.outbox_wakeup import Wakeup, wakeup_for

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_POLL_INTERVAL_MS",
    "BrokerPublisher",
    "JsonLinesPublisher",
    "MemoryPublisher",
    "PublishError",
    "PublishedNotification",
    "Publisher",
    "Relay",
    "RelayActiveError",
    "relay_batch",
    "relay_lease",
    "relay_notifications",
    "relay_pending",
]

DEFAULT_BATCH_SIZE: Final = 100
DEFAULT_POLL_INTERVAL_MS: Final = 1_000

# Session advisory lock naming the one relay allowed to publish.
_LEASE_KEY: Final = "residuo.relay"
_TRY_LEASE: Final = select(func.pg_try_advisory_lock(func.hashtextextended(_LEASE_KEY, 0)))
_OUTBOX = schema.outbox.c
# Built once: a relay claims and marks a batch many times a second under load.
_CLAIM: Final = (
    select(_OUTBOX.position, _OUTBOX.notification_id, _OUTBOX.type, _OUTBOX.payload)
    .where(_OUTBOX.published_at.is_(None))
    .order_by(_OUTBOX.position)
    .limit(bindparam("claim_limit"))
    .with_for_update(skip_locked=True)
)
_MARK_PUBLISHED: Final = (
    update(schema.outbox)
    .where(_OUTBOX.position.in_(bindparam("confirmed", expanding=True)))
    .values(published_at=bindparam("published_at"))
)
_FIRST_RETRY_MS: Final = 500
_MAX_RETRY_MS: Final = 5_000
# A healthy relay beats every poll interval at least: a beat counts this long, or
# three poll intervals if longer, so a large batch being confirmed is not a fault.
_READY_BEAT_FLOOR: Final = timedelta(seconds=30)

Clock = Callable[[], datetime]
T = TypeVar("T")

_logger = structlog.get_logger(__name__)


class PublishError(WorkerError):
    """A notification could not be published and confirmed; it stays unpublished."""


class RelayActiveError(WorkerError):
    """Another relay holds the lease on this database (see ``relay_lease``)."""


class Publisher(Protocol):
    """Where notifications go. ``publish`` returns only once the message is safely
    delivered (a broker confirm, a flushed write) and raises otherwise."""

    def publish(self, routing_key: str, body: bytes, message_id: str) -> None: ...


class BrokerPublisher(Publisher, Protocol):
    """A publisher holding a connection: opened and kept alive while idle (both may
    raise ``PublishError``), closed at the end. Its ``publish`` raises
    ``PublishError``, after dropping the connection."""

    def keepalive(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PublishedNotification:
    """One notification as a publisher received it."""

    routing_key: str
    body: bytes
    message_id: str


@dataclass
class MemoryPublisher:
    """Keeps every notification in a list, in publication order (embedded, tests)."""

    published: list[PublishedNotification] = field(default_factory=list)

    def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        self.published.append(PublishedNotification(routing_key, body, message_id))


class JsonLinesPublisher:
    """Writes each notification's CloudEvent as one line of JSON to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        self._stream.write(body.decode("utf-8") + "\n")
        self._stream.flush()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def relay_batch(
    engine: Engine,
    publisher: Publisher,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    clock: Clock = _utc_now,
) -> int:
    """Publish up to ``batch_size`` of the oldest unpublished rows; how many were published.

    If the publisher raises, the rows it had already confirmed stay marked, the
    failing row and the rest of the batch stay unpublished, and the error propagates.
    """
    with _writer(engine) as connection:
        return _relay_batch(connection, publisher, batch_size=batch_size, clock=clock)


def relay_pending(
    engine: Engine,
    publisher: Publisher,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    clock: Clock = _utc_now,
) -> int:
    """Publish batches until the outbox has nothing unpublished; how many were published."""
    total = 0
    while published := relay_batch(engine, publisher, batch_size=batch_size, clock=clock):
        total += published
    return total


def relay_notifications(
    engine: Engine,
    publisher: Publisher,
    notification_ids: Collection[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    clock: Clock = _utc_now,
) -> int:
    """Publish those of ``notification_ids`` still unpublished, in outbox order, and no
    other row; how many were published.

    For a process that must send only the notifications it wrote itself, whoever
    else writes to the same outbox (``residuo replay``).
    """
    outbox = schema.outbox.c
    positions: list[int] = []
    with engine.connect() as connection:
        for ids in _chunks(sorted(notification_ids), batch_size):
            mine = select(outbox.position).where(
                outbox.notification_id.in_(ids), outbox.published_at.is_(None)
            )
            positions.extend(connection.execute(mine).scalars())
    total = 0
    for chunk in _chunks(sorted(positions), batch_size):
        with _writer(engine) as connection:
            total += _relay_batch(
                connection,
                publisher,
                batch_size=batch_size,
                clock=clock,
                among=outbox.position.in_(chunk),
            )
    return total


@contextmanager
def relay_lease(engine: Engine) -> Iterator[None]:
    """Hold the relays' lease for the duration of the block: no ``Relay`` publishes
    meanwhile. Raises ``RelayActiveError`` at once if one holds it. A no-op on SQLite,
    whose relays take no lease."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        held = connection.execute(_TRY_LEASE).scalar_one()
        connection.commit()
        if not held:
            raise RelayActiveError("another relay is active on this database")
        try:
            yield
        finally:
            _release_lease(connection)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _writer(engine: Engine) -> Connection:
    """A connection whose transactions mark rows: on SQLite they take the write lock at
    BEGIN, so a unit of work committing new rows cannot stale the relay's snapshot."""
    return engine.connect().execution_options(**{WRITE_TRANSACTION: True})


def _relay_batch(
    connection: Connection,
    publisher: Publisher,
    *,
    batch_size: int,
    clock: Clock,
    among: ColumnElement[bool] | None = None,
) -> int:
    claim = _CLAIM if among is None else _CLAIM.where(among)
    rows = connection.execute(claim, {"claim_limit": batch_size}).all()
    confirmed: list[int] = []
    try:
        for row in rows:
            publisher.publish(row.type, row.payload.encode("utf-8"), row.notification_id)
            confirmed.append(row.position)
    finally:
        # What was confirmed before a failure must stay marked.
        if confirmed:
            connection.execute(_MARK_PUBLISHED, {"confirmed": confirmed, "published_at": clock()})
        connection.commit()
    return len(confirmed)


class Relay:
    """The relay loop: publish while holding the lease, stand by otherwise, until ``stop``.

    While active it publishes batch after batch as long as the last one found rows;
    once one finds none it waits on ``wakeup`` (default: ``wakeup_for(engine)``,
    PostgreSQL's ``LISTEN``) for at most ``poll_interval_ms``, the poll being the
    fallback. A database or broker failure is logged and retried with backoff (half a
    second, doubling, at most five: a broker back from a restart is used within
    seconds); a batch that failed half-way keeps what was confirmed.
    """

    def __init__(
        self,
        engine: Engine,
        publisher: BrokerPublisher,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS,
        clock: Clock = _utc_now,
        wakeup: Wakeup | None = None,
    ) -> None:
        self._engine = engine
        self._wakeup = wakeup if wakeup is not None else wakeup_for(engine)
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval_ms = poll_interval_ms
        self._clock = clock
        self._retry_delays = _retry_delays()
        self._heartbeat = Heartbeat(
            within=max(_READY_BEAT_FLOOR, 3 * timedelta(milliseconds=poll_interval_ms))
        )

    def is_ready(self) -> bool:
        """Whether the relay's last round worked, lately (see the module); False
        before the first."""
        return self._heartbeat.alive()

    def run(self, stop: Event) -> None:
        """Relay until ``stop`` is set; the batch in progress is finished first."""
        while not stop.is_set():
            try:
                self._serve(stop)
            except (DBAPIError, PublishError) as error:
                self._heartbeat.failed()
                delay_ms = next(self._retry_delays)
                _logger.warning("relay interrupted", error=str(error), retry_in_ms=delay_ms)
                wait_ms(stop, delay_ms)
        self._wakeup.close()
        self._publisher.close()

    def _serve(self, stop: Event) -> None:
        with _writer(self._engine) as connection:
            try:
                self._wait_for_lease(connection, stop)
                while not stop.is_set():
                    published = _relay_batch(
                        connection, self._publisher, batch_size=self._batch_size, clock=self._clock
                    )
                    self._retry_delays = _retry_delays()
                    if published:
                        self._heartbeat.beat()
                        # Rows committed meanwhile are looked for at once, never
                        # left for a poll.
                        _logger.info("notifications published", count=published)
                        continue
                    self._publisher.keepalive()
                    self._heartbeat.beat()
                    self._wakeup.wait(stop, self._poll_interval_ms)
            finally:
                _release_lease(connection)

    def _wait_for_lease(self, connection: Connection, stop: Event) -> None:
        if connection.dialect.name != "postgresql":
            return
        announced = False
        while not stop.is_set():
            held = connection.execute(_TRY_LEASE).scalar_one()
            connection.commit()
            if held:
                _logger.info("relay active")
                return
            # Standing by is this relay's job while another publishes.
            self._heartbeat.beat()
            if not announced:
                _logger.info("another relay is active: standing by")
                announced = True
            wait_ms(stop, self._poll_interval_ms)


def _retry_delays() -> Iterator[int]:
    return delays_ms(first_ms=_FIRST_RETRY_MS, max_ms=_MAX_RETRY_MS)


def _release_lease(connection: Connection) -> None:
    """Give the lease up before the connection goes back to the pool; a connection
    that cannot even do that is discarded, which ends its session and the lock."""
    if connection.dialect.name != "postgresql":
        return
    try:
        connection.rollback()
        connection.execute(select(func.pg_advisory_unlock_all()))
        connection.commit()
    except DBAPIError:
        connection.invalidate()
