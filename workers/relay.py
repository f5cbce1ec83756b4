"""The outbox relay: committed notifications out to a publisher, in order, at least once.

Rows are claimed oldest first (``position``) in bounded batches, handed one by one
to a ``Publisher``, and marked ``published_at`` only after the publisher returned,
which it does only once the message is confirmed. A crash between the two
publishes a row again on the next run: consumers dedupe on the notification ``id``.

On PostgreSQL the claim is ``SELECT … FOR UPDATE SKIP LOCKED``: several relays
share the backlog and never publish the same row concurrently. On SQLite the
transaction holds the database write lock (``BEGIN IMMEDIATE``), which serialises
relays just as well.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol, TextIO

from sqlalchemy import Engine, select, update

from ledger.store import schema

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "JsonLinesPublisher",
    "MemoryPublisher",
    "PublishedNotification",
    "Publisher",
    "relay_batch",
    "relay_pending",
]

DEFAULT_BATCH_SIZE: Final = 100

Clock = Callable[[], datetime]


class Publisher(Protocol):
    """Where notifications go. ``publish`` returns only once the message is safely
    delivered (a broker confirm, a flushed write) and raises otherwise."""

    def publish(self, routing_key: str, body: bytes, message_id: str) -> None: ...


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
    outbox = schema.outbox.c
    claim = (
        select(outbox.position, outbox.notification_id, outbox.type, outbox.payload)
        .where(outbox.published_at.is_(None))
        .order_by(outbox.position)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    published = 0
    with engine.connect() as connection, connection.begin() as transaction:
        for row in connection.execute(claim).all():
            try:
                publisher.publish(row.type, row.payload.encode("utf-8"), row.notification_id)
            except Exception:
                # What was confirmed before the failure must stay marked.
                transaction.commit()
                raise
            connection.execute(
                update(schema.outbox)
                .where(outbox.position == row.position)
                .values(published_at=clock())
            )
            published += 1
        transaction.commit()
    return published


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
