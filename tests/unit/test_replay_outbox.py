"""A replay relays the notifications its own lines wrote, never another writer's."""

import json
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine, select
from unit.outbox_kit import CREATED_AT

from ledger.store import schema
from ledger.store.database import create_database_engine
from residuo.bootstrap import Runtime, bootstrap, ensure_schema
from residuo.replay import EventLine, replaying
from residuo.settings import Settings
from workers.relay import MemoryPublisher

PAID_AT = "2026-01-10T09:30:00+01:00"
FAILED_AT = "2026-01-11T10:00:00+01:00"
PAYMENT = {
    "specversion": "1.0",
    "id": "evt-pay",
    "source": "billing",
    "type": "payment.received",
    "time": PAID_AT,
    "data": {
        "order_id": "MI0001",
        "customer_id": "1234567@aruba.it",
        "service": "hosting",
        "amount": "49.90",
        "currency": "EUR",
        "paid_at": PAID_AT,
        "method": "card",
        "reference": None,
    },
}
FAILURE = {
    "specversion": "1.0",
    "id": "evt-fail",
    "source": "billing",
    "type": "activation.failed",
    "time": FAILED_AT,
    "data": {"order_id": "MI0001", "failed_at": FAILED_AT},
}


def line(event: Mapping[str, object]) -> EventLine:
    return EventLine(json.dumps(event).encode(), None)


def written_elsewhere(engine: Engine, *ids: str) -> list[str]:
    """Unpublished rows committed through ``engine``, as another process would."""
    with engine.begin() as connection:
        connection.execute(
            schema.outbox.insert(),
            [
                {
                    "notification_id": identifier,
                    "type": "credit.granted",
                    "payload": json.dumps({"id": identifier}),
                    "created_at": CREATED_AT,
                }
                for identifier in ids
            ],
        )
    return list(ids)


def unpublished(engine: Engine) -> list[str]:
    column = schema.outbox.c
    query = select(column.notification_id).where(column.published_at.is_(None))
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def test_a_replay_publishes_its_own_notifications_and_no_one_elses(runtime: Runtime) -> None:
    """Rows another process wrote to the same outbox, before the replay and between
    its lines, are neither written to the replay's output nor marked published."""
    other_writer = create_database_engine(str(runtime.engine.url))
    before = written_elsewhere(other_writer, "worker-1", "worker-2")
    publisher = MemoryPublisher()

    with replaying(runtime, publisher) as replayer:
        paid = replayer.feed(1, line(PAYMENT))
        during = written_elsewhere(other_writer, "worker-3")
        failed = replayer.feed(2, line(FAILURE))
        rejected = replayer.feed(3, EventLine(b"{not json", None))
    other_writer.dispose()

    assert (paid.published, failed.published, rejected.published) == (0, 1, 1)
    assert [json.loads(each.body)["type"] for each in publisher.published] == [
        "credit.granted",
        "event.rejected",
    ]
    assert sorted(unpublished(runtime.engine)) == before + during


def test_a_replay_bounds_bodies_by_the_configured_size(tmp_path: Path) -> None:
    """A replay judges a line's size as a worker judges a message's: on its bytes,
    against ``RESIDUO_MAX_BODY_BYTES``, not the default."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'books.sqlite3'}", max_body_bytes=1_000
    )
    with bootstrap(settings) as runtime:
        ensure_schema(runtime.engine)
        with replaying(runtime, MemoryPublisher()) as replayer:
            padded = replayer.feed(1, line(PAYMENT | {"padding": "x" * 1_000}))
            fitting = replayer.feed(2, line(PAYMENT))

    ((too_large,), (applied,)) = padded.deliveries, fitting.deliveries
    assert too_large.status == "rejected"
    assert too_large.detail is not None and too_large.detail.startswith("body_too_large: ")
    assert applied.status == "processed"
