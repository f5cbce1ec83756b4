"""attack15: a replay on PostgreSQL relays the notifications its lines wrote.

The replay learns which outbox rows are its own by watching the outbox inserts its
engine executes (``residuo.replay.NotificationsWritten``); on PostgreSQL those inserts
must still be seen however ``UnitOfWork.insert_many`` sends the rows."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from unit.test_replay_outbox import FAILURE, PAYMENT, line

from ledger.store import schema
from ledger.store.migrate import upgrade
from residuo.bootstrap import Runtime, bootstrap, ensure_schema
from residuo.replay import replaying
from residuo.settings import Settings
from workers.relay import MemoryPublisher


@pytest.fixture
def pg_runtime(postgres_url: str) -> Iterator[Runtime]:
    """The embedded setup on a migrated PostgreSQL database of this test's own."""
    settings = Settings(database_url=postgres_url)
    with bootstrap(settings, clock=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) as runtime:
        upgrade(runtime.engine)
        ensure_schema(runtime.engine)
        yield runtime


def test_a_replay_on_postgresql_publishes_what_its_lines_wrote(pg_runtime: Runtime) -> None:
    """The payment writes no notification; the failure's credit.granted and the
    unreadable line's event.rejected are published, in order, and marked so."""
    publisher = MemoryPublisher()

    with replaying(pg_runtime, publisher) as replayer:
        paid = replayer.feed(1, line(PAYMENT))
        failed = replayer.feed(2, line(FAILURE))
        rejected = replayer.feed(3, line({"not": "an event"}))

    assert (paid.published, failed.published, rejected.published) == (0, 1, 1)
    assert [json.loads(each.body)["type"] for each in publisher.published] == [
        "credit.granted",
        "event.rejected",
    ]
    column = schema.outbox.c
    with pg_runtime.engine.connect() as connection:
        unpublished = connection.execute(
            select(column.notification_id).where(column.published_at.is_(None))
        ).all()
    assert unpublished == []
