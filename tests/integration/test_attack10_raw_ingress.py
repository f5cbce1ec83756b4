"""Attack on issue 10 as an upstream integrator would make it: raw AMQP publishes to
the `residuo.events` exchange, no residuo code, on real RabbitMQ and PostgreSQL.

Each test fails on the code it was written against; the docstrings say what was
observed and what is expected."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from integration.test_poison_rabbitmq import payment, running
from integration.test_rabbitmq_pipeline import DEADLINE_S, Pipeline
from publishing import publish_routed
from sqlalchemy import select

from ledger.store import schema
from residuo.settings import Settings

pytestmark = pytest.mark.integration

FAILED_AT = "2026-01-11T10:00:00+01:00"


@pytest.fixture
def pipeline(postgres_url: str, rabbitmq_url: str) -> Iterator[Pipeline]:
    settings = Settings(
        database_url=postgres_url, broker_url=rabbitmq_url, relay_poll_interval_ms=50
    )
    with running(settings) as pipeline:
        yield pipeline


def publish(url: str, body: bytes, properties: pika.BasicProperties) -> None:
    """A bare AMQP client publishing to the events exchange, confirmed and ``mandatory``."""
    publish_routed(url, [("whatever", body)], properties=properties)


def xq_depth(url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        declared = connection.channel().queue_declare("residuo.events.XQ", passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def credit_row(pipeline: Pipeline) -> Any:
    with pipeline.runtime.engine.connect() as connection:
        return connection.execute(select(schema.credits)).one()


def test_attack10_an_upstream_publisher_cannot_run_a_sweep_at_a_future_instant(
    pipeline: Pipeline,
) -> None:
    """The events exchange is the integrator's door. A body shaped like a Dramatiq
    message is taken as one (`ResiduoRabbitmqBroker.decode` tries `Message.decode`
    before raw ingress), and the worker runs whatever actor it names, whatever queue
    that actor belongs to. `sweep_<kind>` without a business date runs at the `as_of`
    it is given, with no check that it is not in the future (only the `residuo sweep`
    command has one). Reproduced by hand with `amqp-publish`:

        amqp-publish --url … -e residuo.events -r payment.received -C application/json \
          --body '{"queue_name":"residuo.events","actor_name":"sweep_expiry",
                   "args":["2030-01-01T00:00:00+01:00"],"kwargs":{},"options":{},
                   "message_id":"m-1","message_timestamp":0}'

    Observed: "sweep completed … counts {forfeited: 1}": a credit valid until January
    2027 is forfeited now (its `available` bucket is 0, so a transfer today is refused
    `no_credit`) and the customer gets `credit.expired`. `sweep_spid_timeout` cancels
    SPID orders early the same way. Expected: the events queue runs inbound-event
    actors only (anything else dead-lettered, `wrong_queue`/`not_a_message`), and a
    sweep never judges at an instant still to come."""
    pipeline.publish(json.dumps(payment(1)), "payment.received")
    failure = {
        "specversion": "1.0",
        "id": "evt-fail-1",
        "source": "billing",
        "type": "activation.failed",
        "time": FAILED_AT,
        "data": {"order_id": "MI0001", "failed_at": FAILED_AT},
    }
    pipeline.publish(json.dumps(failure), "activation.failed")
    wait_for(lambda: pipeline.count(schema.credits) == 1, "the credit")

    sweep = {
        "queue_name": "residuo.events",
        "actor_name": "sweep_expiry",
        "args": ["2030-01-01T00:00:00+01:00"],
        "kwargs": {},
        "options": {},
        "message_id": "m-from-upstream",
        "message_timestamp": 0,
    }
    publish(
        pipeline.url,
        json.dumps(sweep).encode(),
        pika.BasicProperties(delivery_mode=2, content_type="application/json"),
    )
    wait_for(
        lambda: credit_row(pipeline).forfeited_cents > 0 or xq_depth(pipeline.url) > 0,
        "the worker to run or refuse the message",
    )

    credit = credit_row(pipeline)
    assert (credit.available_cents, credit.forfeited_cents) == (1000, 0)


def binary_headers(**attributes: Any) -> dict[str, Any]:
    return {f"cloudEvents_{name}": value for name, value in attributes.items()}


def test_attack10_binary_attributes_sent_as_amqp_byte_arrays_keep_their_text(
    pipeline: Pipeline,
) -> None:
    """AMQP 0-9-1 clients send header strings either as long strings (`S`) or as byte
    arrays (`x`): Java's `byte[]`, Go's `[]byte`, and the .NET client, which hands
    received headers back as `byte[]`, so a .NET service that forwards an event
    copies them out as byte arrays. `messages.amqp_binding._json_value` turns bytes
    into base64 (the CloudEvents *Binary* type), although no core attribute is Binary.

    Observed: dead-lettered `unknown_type` ("type: 'cGF5bWVudC5yZWNlaXZlZA==' is not
    one of …", event id `ZXZ0LWJ5dGVzLTE=`); with only `id` sent so (tried by hand),
    the event is applied under the id `Yi1ieXRlcw==`: the idempotency key is no longer
    the publisher's, and the same event re-sent with a string id is applied twice.
    Expected: a byte-array value of a String attribute is read as UTF-8 text."""
    event = payment(1)
    headers = binary_headers(
        specversion=b"1.0",
        id=b"evt-bytes-1",
        source=b"billing",
        type=b"payment.received",
        time=event["time"].encode(),
    )
    publish(
        pipeline.url,
        json.dumps(event["data"]).encode(),
        pika.BasicProperties(delivery_mode=2, content_type="application/json", headers=headers),
    )
    wait_for(lambda: pipeline.count(schema.inbox) + xq_depth(pipeline.url) > 0, "the event's fate")

    with pipeline.runtime.engine.connect() as connection:
        ids = connection.execute(select(schema.inbox.c.event_id)).scalars().all()
    assert ids == ["evt-bytes-1"]


def test_attack10_a_media_type_is_matched_without_regard_to_case(pipeline: Pipeline) -> None:
    """Media types are case-insensitive (RFC 9110 §8.3.1); some gateways and SDKs
    normalise `content_type` to `Application/JSON`.

    Observed: a binary-mode event with AMQP `content_type: Application/JSON` is
    dead-lettered (`bad_schema`: datacontenttype must match `^application/json…`), and
    a structured one sent as `Application/CloudEvents+json` with `cloudEvents_*`
    headers is taken for binary mode. Expected: the event is applied."""
    event = payment(2)
    headers = binary_headers(
        specversion="1.0",
        id="evt-upper-2",
        source="billing",
        type=event["type"],
        time=event["time"],
    )
    publish(
        pipeline.url,
        json.dumps(event["data"]).encode(),
        pika.BasicProperties(delivery_mode=2, content_type="Application/JSON", headers=headers),
    )
    wait_for(lambda: pipeline.count(schema.orders) + xq_depth(pipeline.url) > 0, "the event's fate")

    assert xq_depth(pipeline.url) == 0
    assert pipeline.count(schema.orders) == 1
