"""attack13: an event an integrator sends in CloudEvents binary content mode, within
`RESIDUO_MAX_BODY_BYTES`, dead-lettered for a reason ops can fix (the time window of
`RESIDUO_EVENT_TIME_*`), cannot be replayed once they have fixed it.

Fails on the code it was written against; the docstring says what was observed and
what is expected."""

from __future__ import annotations

import json

import pika
import pytest
from e2e.stack import Stack, wait_until

from ledger.store import schema
from messages.amqp_binding import structured_event
from workers.middleware import body_bytes

pytestmark = pytest.mark.e2e

MAX_BODY_BYTES = 2048
PAID_AT = "2026-01-10T09:30:00+01:00"


def binary_headers(event_id: str) -> dict[str, str]:
    return {
        "cloudEvents_specversion": "1.0",
        "cloudEvents_id": event_id,
        "cloudEvents_source": "billing",
        "cloudEvents_type": "payment.received",
        "cloudEvents_time": PAID_AT,
    }


def structured(data: bytes) -> dict[str, object]:
    """The structured event residuo reads a binary-mode message of ``data`` as."""
    event = structured_event(binary_headers("evt-binary-1"), "application/json", data)
    assert event is not None
    return event


def publish_binary(stack: Stack, data: bytes, event_id: str) -> None:
    """What an upstream publisher in binary mode sends: the data as the body, the
    attributes as `cloudEvents_*` headers (docs/rabbitmq.md, "Publishing an event")."""
    headers = binary_headers(event_id)
    connection = pika.BlockingConnection(pika.URLParameters(stack.broker_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            delivery_mode=2, content_type="application/json", headers=headers
        )
        channel.basic_publish("residuo.events", "payment.received", data, properties)
    finally:
        connection.close()


def test_attack13_a_binary_mode_event_within_the_size_limit_can_be_replayed(
    stack: Stack,
) -> None:
    """docs/rabbitmq.md: the size limit is "counted once, on the bytes received"; a
    binary-mode event is dead-lettered as "the structured event it stands for"; and
    `dead-letters replay` keeps an event only if it "still fails validation as the
    worker judges it (the size limit, `parse_inbound`, the time window …)".

    Decided since: a binary-mode event is counted, besides its body, as the structured
    event it travels on as (the body plus its attributes), which is what its dead
    letter keeps and a replay re-publishes. A binary-mode payment whose structured
    form is exactly `RESIDUO_MAX_BODY_BYTES` long is accepted by the size limit, and
    dead-lettered `implausible_timestamp`
    because the worker's `RESIDUO_EVENT_TIME_LATEST` was set too early. Ops fix the
    setting and replay it, as the docs invite.

    Observed: `replay` keeps it, exit status 1, "still invalid: body_too_large: the
    body is 2xxx bytes, more than the 2048 accepted": the dead letter is the structured
    form (the data plus every attribute), larger than what was received, so the size
    limit now refuses what it accepted; with `--force` the worker refuses it the same
    way (checked by hand: after `replay --force` the books still lack the event and
    the dead-letter queue holds it again). A valid event the publisher sent within
    every limit can never be applied by a replay. Expected: it is replayed (exit 0)
    and the worker applies it."""
    data = json.dumps(
        {
            "order_id": "MI0001",
            "customer_id": "1234567@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": PAID_AT,
            "method": "card",
            "reference": None,
        },
        separators=(",", ":"),
    ).encode()
    # Filled with a long payment reference until the structured form (the data and
    # the attributes, canonical JSON) is exactly at the limit.
    overhead = len(body_bytes(structured(data))) - len(data)
    filler = b"x" * (MAX_BODY_BYTES - overhead - len(data) + 2)
    data = data.replace(b'"reference":null', b'"reference":"' + filler + b'"')
    assert len(body_bytes(structured(data))) == MAX_BODY_BYTES
    stack.environment["RESIDUO_MAX_BODY_BYTES"] = str(MAX_BODY_BYTES)

    too_narrow = stack.start(
        "worker", "worker-narrow", event_time_latest="2026-01-05T00:00:00+01:00"
    )
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", too_narrow)
    publish_binary(stack, data, "evt-binary-1")
    wait_until(lambda: stack.ready("residuo.events.XQ") == 1, "the dead letter", too_narrow)
    assert too_narrow.stop() == 0, too_narrow.tail()
    listed = json.loads(stack.run("dead-letters", "list", "--json").stdout)
    assert [each["reason"] for each in listed["dead_letters"]] == ["implausible_timestamp"]

    fixed = stack.start("worker", "worker-fixed")
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", fixed)
    replayed = stack.run(
        "dead-letters", "replay", "evt-binary-1", "--operator", "anna", "--reason", "window"
    )

    assert replayed.returncode == 0, replayed.stderr
    wait_until(lambda: stack.count(schema.inbox) == 1, "the event applied", fixed)
    assert fixed.stop() == 0, fixed.tail()


def test_attack13_a_structured_event_with_accents_within_the_size_limit_can_be_replayed(
    stack: Stack,
) -> None:
    """The same in structured mode, for an Italian biller: a payment whose reference
    has accented letters ("Società", "però"), its body exactly `RESIDUO_MAX_BODY_BYTES`
    of UTF-8, dead-lettered `implausible_timestamp`, then replayed once the window is
    fixed.

    Observed: `replay` keeps it, "still invalid: body_too_large": the dead letter is
    canonical JSON with every non-ASCII letter escaped (`\\u00e0`, six bytes for two),
    so it is larger than the body received. Expected: replayed (exit 0) and applied:
    the size limit judges the bytes the publisher sent, once."""
    event = {
        "specversion": "1.0",
        "id": "evt-accents-1",
        "source": "billing",
        "type": "payment.received",
        "time": PAID_AT,
        "data": {
            "order_id": "MI0001",
            "customer_id": "1234567@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": PAID_AT,
            "method": "bollettino",
            "reference": "",
        },
    }
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    accents = "Società però già ".encode()
    filler = accents * ((MAX_BODY_BYTES - len(body)) // len(accents))
    filler += b"x" * (MAX_BODY_BYTES - len(body) - len(filler))
    body = body.replace(b'"reference":""', b'"reference":"' + filler + b'"')
    assert len(body) == MAX_BODY_BYTES
    stack.environment["RESIDUO_MAX_BODY_BYTES"] = str(MAX_BODY_BYTES)

    too_narrow = stack.start(
        "worker", "worker-narrow", event_time_latest="2026-01-05T00:00:00+01:00"
    )
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", too_narrow)
    stack.publish_raw(body, "payment.received")
    wait_until(lambda: stack.ready("residuo.events.XQ") == 1, "the dead letter", too_narrow)
    assert too_narrow.stop() == 0, too_narrow.tail()
    listed = json.loads(stack.run("dead-letters", "list", "--json").stdout)
    assert [each["reason"] for each in listed["dead_letters"]] == ["implausible_timestamp"]

    fixed = stack.start("worker", "worker-fixed")
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", fixed)
    replayed = stack.run(
        "dead-letters", "replay", "evt-accents-1", "--operator", "anna", "--reason", "window"
    )

    assert replayed.returncode == 0, replayed.stderr
    wait_until(lambda: stack.count(schema.inbox) == 1, "the event applied", fixed)
    assert fixed.stop() == 0, fixed.tail()
