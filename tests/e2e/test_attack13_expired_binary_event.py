"""attack13: an event an upstream publisher sent with a message TTL (`expiration`),
in CloudEvents binary content mode, that RabbitMQ itself dead-lettered while no worker
was consuming.

Fails on the code it was written against; the docstring says what was observed and
what is expected."""

from __future__ import annotations

import json

import pika
import pytest
from e2e.stack import Stack, wait_until

from ledger.store import schema

pytestmark = pytest.mark.e2e

PAID_AT = "2026-01-10T09:30:00+01:00"
DATA = {
    "order_id": "MI0001",
    "customer_id": "1234567@aruba.it",
    "service": "hosting",
    "amount": "10.00",
    "currency": "EUR",
    "paid_at": PAID_AT,
    "method": "card",
    "reference": None,
}


def test_attack13_an_expired_binary_mode_event_is_applied_when_replayed(stack: Stack) -> None:
    """`expiration` is a legal AMQP property many publishers set ("stale after a
    minute"). The events queue dead-letters to `residuo.events.XQ`
    (`x-dead-letter-routing-key`, docs/rabbitmq.md "Topology"), so a message that
    expires while every worker is down lands there, put by RabbitMQ as it was sent:
    in binary mode, the data as the body and the attributes in `cloudEvents_*`
    headers. `dead-letters list` shows it (`broker:expired`); ops replay it once the
    workers are back, as docs/rabbitmq.md says replay does: "re-publishes them to
    their queue".

    Observed: `replay` keeps it, exit status 1, "still invalid: bad_schema: type:
    required field is missing": the dead letter is judged by its body alone, the data,
    without the `cloudEvents_*` headers that make it an event; and `--force` would not
    help, since `replay_dead_letters` re-publishes the body without any header (the
    worker would take the data for a structured event and refuse it the same way). A
    valid event is lost to the books unless ops rebuild it by hand. Expected: it is
    replayed (exit 0) and applied: judged, and re-published, as the structured event
    it stands for, or with the attributes it arrived with."""
    worker = stack.start("worker", "worker-1")
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", worker)
    assert worker.stop() == 0, worker.tail()

    headers = {
        "cloudEvents_specversion": "1.0",
        "cloudEvents_id": "evt-expiring-1",
        "cloudEvents_source": "billing",
        "cloudEvents_type": "payment.received",
        "cloudEvents_time": PAID_AT,
    }
    connection = pika.BlockingConnection(pika.URLParameters(stack.broker_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            delivery_mode=2, content_type="application/json", headers=headers, expiration="1"
        )
        channel.basic_publish(
            "residuo.events", "payment.received", json.dumps(DATA).encode(), properties
        )
    finally:
        connection.close()
    wait_until(lambda: stack.ready("residuo.events.XQ") == 1, "RabbitMQ to dead-letter it")
    listed = json.loads(stack.run("dead-letters", "list", "--json").stdout)
    assert [each["reason"] for each in listed["dead_letters"]] == ["broker:expired"]

    worker = stack.start("worker", "worker-2")
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", worker)
    replayed = stack.run("dead-letters", "replay", "--all", "--operator", "anna")
    assert replayed.returncode == 0, replayed.stderr
    wait_until(
        lambda: stack.count(schema.inbox) + stack.count(schema.rejected_events) > 0,
        "the replayed event's fate",
        worker,
    )

    with stack.engine.connect() as connection_:
        rejected = connection_.execute(
            schema.rejected_events.select().with_only_columns(
                schema.rejected_events.c.reason, schema.rejected_events.c.detail
            )
        ).all()
    assert rejected == []
    assert stack.count(schema.inbox) == 1
    assert worker.stop() == 0, worker.tail()
