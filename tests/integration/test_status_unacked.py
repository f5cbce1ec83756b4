"""``residuo status`` counts the messages held unacknowledged (retries in flight), which
AMQP's queue counts leave out, on a real RabbitMQ with its management API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from integration.test_poison_rabbitmq import payment, running
from integration.test_rabbitmq_pipeline import DEADLINE_S
from servers import RabbitMQServer

from residuo.settings import Settings
from residuo.status import queues_section

pytestmark = pytest.mark.reliability


def test_a_retry_waiting_in_a_worker_is_counted_unacknowledged(
    postgres_url: str,
    rabbitmq_url: str,
    rabbitmq_server: RabbitMQServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A payment fails on a database that is "down" and waits a minute for its retry,
    unacknowledged in the worker: the delay queue shows it as unacked, not ready."""
    if rabbitmq_server.management_url is None:
        pytest.skip("this broker's management API is unknown (RESIDUO_TEST_RABBITMQ_URL)")
    settings = Settings(
        database_url=postgres_url,
        broker_url=rabbitmq_url,
        broker_management_url=rabbitmq_server.management_url,
        retry_min_backoff_ms=60_000,
        retry_max_backoff_ms=120_000,
    )
    with running(settings) as pipeline:
        attempts: list[Any] = []

        def database_down(event: Any, **_options: Any) -> Any:
            attempts.append(event)
            raise ConnectionError("database unreachable")

        monkeypatch.setattr(pipeline.runtime.ledger, "record", database_down)
        pipeline.publish(json.dumps(payment(1)), "payment.received")

        rows = poll(
            lambda: {row["queue"]: row for row in queues_section(pipeline.runtime).rows},
            until=lambda rows: rows.get("residuo.events.DQ", {}).get("unacked") == 1,
        )

    assert len(attempts) == 1
    assert rows["residuo.events.DQ"]["ready"] == 0
    assert rows["residuo.events"] == {
        "queue": "residuo.events",
        "ready": 0,
        "unacked": 0,
        "consumers": 1,
    }


def poll(
    read: Callable[[], dict[str, dict[str, Any]]],
    *,
    until: Callable[[dict[str, dict[str, Any]]], bool],
) -> dict[str, dict[str, Any]]:
    """Read until ``until`` holds (the API's figures lag by up to a second here)."""
    deadline = time.monotonic() + DEADLINE_S
    while not until(found := read()):
        assert time.monotonic() < deadline, f"gave up waiting; last read {found}"
        time.sleep(0.2)
    return found
