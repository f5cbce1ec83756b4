"""What an upstream publisher can and cannot make the worker do, on real RabbitMQ and
PostgreSQL: headers no client can read are set aside and the body can be replayed,
residuo's own door (the default exchange) runs only what a queue's actors take, and
a body of any bytes is reported as it came."""

from __future__ import annotations

import json
import struct
import uuid

import pika
import pytest
from integration.test_attack9_poison_headers import RawHeaders
from integration.test_poison_rabbitmq import payment, pipeline  # noqa: F401 - the fixture
from integration.test_rabbitmq_pipeline import Pipeline, wait_until
from publishing import publish_routed
from sqlalchemy import select

from ledger.store import schema
from messages import body_id
from workers.rabbitmq.dead_letter_queue import replay_dead_letters

pytestmark = pytest.mark.reliability


def xq_depth(url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        declared = connection.channel().queue_declare("residuo.events.XQ", passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def nested_arrays(depth: int) -> bytes:
    """One header, ``a``, an AMQP array holding an array … ``depth`` levels deep."""
    value = b""
    for _ in range(depth):
        value = b"A" + struct.pack(">I", len(value)) + value
    return b"\x01a" + value


def test_unreadable_headers_set_a_valid_event_aside_for_ops_to_replay(
    pipeline: Pipeline,  # noqa: F811 - the fixture
) -> None:
    """Arrays nested 2,000 deep in the headers: the message is dead-lettered
    (``bad_headers``, with residuo's own readable headers), ops are told under the
    event's id, the event after it is applied, and the dead letter, replayed, is applied
    too: set aside, not lost."""
    poisoned = payment(1)
    publish_routed(
        pipeline.url,
        [("payment.received", json.dumps(poisoned).encode())],
        properties=RawHeaders(nested_arrays(2_000)),
    )
    pipeline.publish(json.dumps(payment(2)), "payment.received")

    wait_until(lambda: xq_depth(pipeline.url) == 1, "the dead letter")
    wait_until(lambda: pipeline.count(schema.orders) == 1, "the payment after it")
    pipeline.notifications(lambda received: len(received) >= 1)
    (told,) = [each["data"] for each in pipeline.of_type("event.rejected")]
    assert (told["event_id"], told["reason"]) == ("evt-pay-1", "bad_headers")
    assert "RecursionError" in told["detail"]

    (replayed,) = replay_dead_letters(pipeline.url, "residuo.events", lambda _: True)

    assert (replayed.reason, replayed.event_id) == ("bad_headers", "evt-pay-1")
    assert json.loads(replayed.body) == poisoned
    assert told["dead_letter_id"] == body_id(replayed.body)
    wait_until(lambda: pipeline.count(schema.orders) == 2, "the replayed payment")


def test_residuos_own_door_runs_only_what_the_queue_takes(
    pipeline: Pipeline,  # noqa: F811 - the fixture
) -> None:
    """A Dramatiq message put straight into ``residuo.events`` (the default exchange)
    naming a sweep, which belongs to ``residuo.sweeps``, is dead-lettered
    ``wrong_queue``; it never runs, and the event after it is applied."""
    forged = {
        "queue_name": "residuo.events",
        "actor_name": "sweep_expiry",
        "args": ["2020-01-01T00:00:00+01:00", None],
        "kwargs": {},
        "options": {},
        "message_id": str(uuid.uuid4()),
        "message_timestamp": 0,
    }
    # residuo's own door: the default exchange, routed by queue name.
    properties = pika.BasicProperties(delivery_mode=2)
    through_the_door = [("residuo.events", json.dumps(forged).encode())]
    publish_routed(pipeline.url, through_the_door, exchange="", properties=properties)
    pipeline.publish(json.dumps(payment(3)), "payment.received")

    ((letter, _),) = pipeline.dead_letters(1)

    assert letter.headers["x-residuo-reason"] == "wrong_queue"
    assert (
        "sweep_expiry takes its messages from residuo.sweeps"
        in (letter.headers["x-residuo-detail"])
    )
    wait_until(lambda: pipeline.count(schema.orders) == 1, "the payment after it")
    assert pipeline.count(schema.sweep_log) == 0


def test_a_body_of_any_bytes_is_reported_on_postgresql_as_it_came(
    pipeline: Pipeline,  # noqa: F811 - the fixture
) -> None:
    """NUL and bytes that are not UTF-8, which no PostgreSQL text can hold: one
    ``rejected_events`` row keeping every byte, under the dead letter's id."""
    poison = b'{"id": "evt-\x00", "type": "payment.received"}\xff\xfe\x00'

    pipeline.publish(poison, "payment.received")

    ((letter, body),) = pipeline.dead_letters(1)
    assert body == poison
    assert letter.headers["x-residuo-reason"] == "bad_json"
    with pipeline.runtime.engine.connect() as connection:
        kept, digest = connection.execute(
            select(schema.rejected_events.c.body, schema.rejected_events.c.body_sha256)
        ).one()
    assert kept == poison
    assert f"sha256:{digest}" == body_id(poison) == letter.headers["x-residuo-dead-letter-id"]
