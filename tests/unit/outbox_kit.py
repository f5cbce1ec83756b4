"""Unpublished outbox rows, for the relay's tests (the database: ``conftest.engine``)."""

import json
from datetime import UTC, datetime

from sqlalchemy import Engine

from ledger.store import schema

CREATED_AT = datetime(2026, 1, 10, 8, 30, tzinfo=UTC)


def queue_notifications(engine: Engine, count: int) -> list[str]:
    """Insert ``count`` unpublished rows; their notification ids, oldest first."""
    ids = [f"n-{index}" for index in range(count)]
    with engine.begin() as connection:
        connection.execute(
            schema.outbox.insert(),
            [
                {
                    "notification_id": identifier,
                    "type": "credit.granted",
                    "customer_id": "1234567@aruba.it",
                    "payload": json.dumps({"id": identifier}),
                    "created_at": CREATED_AT,
                }
                for identifier in ids
            ],
        )
    return ids
