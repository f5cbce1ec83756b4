"""The outbox relay: in order, bounded, and marked only once the publisher confirmed."""

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, select
from unit.outbox_kit import queue_notifications

from ledger.store import schema
from workers.relay import MemoryPublisher, relay_batch, relay_notifications, relay_pending

PUBLISHED_AT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def unpublished(engine: Engine) -> list[str]:
    column = schema.outbox.c
    with engine.connect() as connection:
        query = (
            select(column.notification_id)
            .where(column.published_at.is_(None))
            .order_by(column.position)
        )
        return list(connection.execute(query).scalars())


def test_rows_are_published_in_order_and_marked(engine: Engine) -> None:
    """Every row goes out once, oldest first, with its id and its type as routing key."""
    ids = queue_notifications(engine, 3)
    publisher = MemoryPublisher()

    published = relay_pending(engine, publisher, clock=lambda: PUBLISHED_AT)

    assert published == 3
    assert [each.message_id for each in publisher.published] == ids
    assert {each.routing_key for each in publisher.published} == {"credit.granted"}
    assert json.loads(publisher.published[0].body) == {"id": "n-0"}
    assert unpublished(engine) == []
    assert relay_pending(engine, publisher) == 0


def test_a_batch_is_bounded(engine: Engine) -> None:
    """One batch takes at most ``batch_size`` rows; the rest wait for the next one."""
    ids = queue_notifications(engine, 5)

    published = relay_batch(engine, MemoryPublisher(), batch_size=2)

    assert published == 2
    assert unpublished(engine) == ids[2:]


def test_a_row_is_marked_only_after_its_publish_returned(engine: Engine) -> None:
    """While the publisher is still at work, the row it is publishing is unpublished."""
    queue_notifications(engine, 2)
    # A plain reader: the ledger's engine starts every transaction as a writer, and
    # the relay holds the write lock while it publishes.
    reader = create_engine(engine.url)
    seen_while_publishing: list[list[str]] = []

    class WatchingPublisher:
        def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
            seen_while_publishing.append(unpublished(reader))

    relay_pending(engine, WatchingPublisher())
    reader.dispose()

    # A reader sees the committed state: nothing of the batch is marked before it ends.
    assert seen_while_publishing == [["n-0", "n-1"], ["n-0", "n-1"]]
    assert unpublished(engine) == []


def test_a_failing_publisher_leaves_the_rest_unpublished(engine: Engine) -> None:
    """Rows confirmed before the failure stay marked; the failing one and the rest wait."""
    ids = queue_notifications(engine, 4)
    confirmed: list[str] = []

    class BrokerGoneAfterTwo:
        def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
            if len(confirmed) == 2:
                raise ConnectionError("broker unreachable")
            confirmed.append(message_id)

    with pytest.raises(ConnectionError):
        relay_pending(engine, BrokerGoneAfterTwo())

    assert confirmed == ids[:2]
    assert unpublished(engine) == ids[2:]


def test_relaying_named_notifications_leaves_every_other_row_alone(engine: Engine) -> None:
    """Only the rows named go out, in outbox order whatever the order of the names;
    the others stay unpublished for the real relay."""
    ids = queue_notifications(engine, 5)
    publisher = MemoryPublisher()

    published = relay_notifications(engine, publisher, [ids[3], ids[1]], batch_size=1)

    assert published == 2
    assert [each.message_id for each in publisher.published] == [ids[1], ids[3]]
    assert unpublished(engine) == [ids[0], ids[2], ids[4]]
    assert relay_notifications(engine, publisher, [ids[1], "n-unknown"]) == 0
