"""attack9: a poison message need not be a poison *body*. The AMQP headers of a message
published to ``residuo.events`` are decoded by pika in the consumer, before residuo's
bounded decoder ever sees the message; a header pika cannot decode aborts the
consumer's connection, the message is redelivered, and the queue stalls behind it.

Expected (issue 9, "nothing invalid stalls"): the message is dead-lettered (or at
least set aside) and the 20 valid events published after it are applied.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from integration.test_poison_rabbitmq import payment, running
from integration.test_rabbitmq_pipeline import Pipeline, wait_until
from pika import spec
from publishing import publish_routed

from ledger.store import schema
from residuo.settings import Settings

pytestmark = pytest.mark.reliability


class RawHeaders(spec.BasicProperties):  # type: ignore[misc]
    """Properties whose header table is given as encoded bytes, as any AMQP client
    (not only pika) may send it."""

    def __init__(self, table: bytes) -> None:
        super().__init__(delivery_mode=2, content_type="application/json")
        self._table = table

    def encode(self) -> list[bytes]:
        flags = spec.BasicProperties.FLAG_CONTENT_TYPE | spec.BasicProperties.FLAG_HEADERS
        flags |= spec.BasicProperties.FLAG_DELIVERY_MODE
        content_type = b"application/json"
        return [
            struct.pack(">H", flags),
            struct.pack("B", len(content_type)) + content_type,
            struct.pack(">I", len(self._table)) + self._table,
            struct.pack("B", 2),
        ]


def nested_tables(depth: int) -> bytes:
    """``{"a": {"a": ... {}}}`` as an AMQP field table, ``depth`` levels deep (built
    iteratively: about 7 bytes a level, well within one frame)."""
    table = b""
    for _ in range(depth):
        table = b"\x01aF" + struct.pack(">I", len(table)) + table
    return table


def far_timestamp() -> bytes:
    """One header, an AMQP timestamp (``T``, 64-bit seconds) beyond year 9999."""
    return b"\x01tT" + struct.pack(">Q", 2**62)


def publish_with_headers(url: str, table: bytes, body: dict[str, Any]) -> None:
    publish_routed(
        url, [("payment.received", json.dumps(body).encode())], properties=RawHeaders(table)
    )


@pytest.mark.parametrize(
    "table",
    [pytest.param(nested_tables(2_000), id="nested"), pytest.param(far_timestamp(), id="year")],
)
def test_attack9_a_header_pika_cannot_decode_does_not_stall_the_events_behind_it(
    postgres_url: str, rabbitmq_url: str, table: bytes
) -> None:
    settings = Settings(
        database_url=postgres_url,
        broker_url=rabbitmq_url,
        relay_poll_interval_ms=50,
        retry_min_backoff_ms=100,
        retry_max_backoff_ms=500,
        retry_max_retries=3,
    )
    with running(settings) as pipeline:
        publish_with_headers(rabbitmq_url, table, payment(0))
        for number in range(1, 21):
            pipeline.publish(json.dumps(payment(number)), "payment.received")

        wait_until(lambda: _orders(pipeline) >= 20, "the 20 payments behind the poison headers")


def _orders(pipeline: Pipeline) -> int:
    return pipeline.count(schema.orders)
