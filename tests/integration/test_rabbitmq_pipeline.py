"""RabbitMQ in, RabbitMQ out: raw CloudEvents from a bare AMQP client, through the real
actors and PostgreSQL, to the notifications queue, with a worker and a relay running
in this process."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
import pytest
import structlog
from dramatiq.errors import ConnectionClosed
from publishing import publish_routed
from servers import RabbitMQServer
from sqlalchemy import func, select
from structlog.testing import capture_logs

from ledger.store import schema
from ledger.store.migrate import upgrade
from residuo.bootstrap import Runtime, bootstrap
from residuo.processes import run_relay, run_worker
from residuo.settings import Settings
from workers.rabbitmq.dead_letter_queue import list_dead_letters, replay_dead_letters

DEADLINE_S = 60


@dataclass
class Pipeline:
    """A worker and a relay on real servers, and a bare pika client to talk to them."""

    runtime: Runtime
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, body: str | bytes, routing_key: str) -> None:
        """Publish as a careful upstream AMQP client would: confirmed and ``mandatory``,
        to the events exchange (``publishing``)."""
        payload = body.encode() if isinstance(body, str) else body
        publish_routed(self.url, [(routing_key, payload)])

    def notifications(self, until: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Read the notifications queue until ``until`` holds of all read so far."""
        deadline = time.monotonic() + DEADLINE_S
        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            channel = connection.channel()
            while not until(self.received):
                assert time.monotonic() < deadline, f"gave up waiting; got {self.received}"
                method, properties, body = channel.basic_get("residuo.notifications", True)
                if method is None:
                    connection.sleep(0.05)
                    continue
                self.received.append(json.loads(body))
                self.headers.append(
                    {
                        "routing_key": method.routing_key,
                        "message_id": properties.message_id,
                        "delivery_mode": properties.delivery_mode,
                        "content_type": properties.content_type,
                    }
                )
        finally:
            connection.close()
        return self.received

    def of_type(self, notification_type: str) -> list[dict[str, Any]]:
        return [each for each in self.received if each["type"] == notification_type]

    def dead_letters(self, count: int) -> list[tuple[Any, bytes]]:
        """Wait for ``count`` messages in ``residuo.events.XQ`` and take them."""
        deadline = time.monotonic() + DEADLINE_S
        taken: list[tuple[Any, bytes]] = []
        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            channel = connection.channel()
            while len(taken) < count:
                assert time.monotonic() < deadline, f"only {len(taken)} dead letters"
                method, properties, body = channel.basic_get("residuo.events.XQ", True)
                if method is None:
                    connection.sleep(0.05)
                    continue
                taken.append((properties, body))
        finally:
            connection.close()
        return taken

    def count(self, table: Any, *where: Any) -> int:
        with self.runtime.engine.connect() as connection:
            query = select(func.count()).select_from(table).where(*where)
            return int(connection.execute(query).scalar_one())


def wait_for_topology(url: str) -> None:
    """Until the worker declared the events exchange and the relay the notifications queue."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        try:
            channel = connection.channel()
            channel.exchange_declare("residuo.events", passive=True)
            channel.queue_declare("residuo.notifications", passive=True)
            return
        except pika.exceptions.ChannelClosedByBroker:
            assert time.monotonic() < deadline, "the topology was never declared"
            time.sleep(0.05)
        finally:
            if connection.is_open:
                connection.close()


@pytest.fixture
def pipeline(postgres_url: str, rabbitmq_url: str) -> Iterator[Pipeline]:
    settings = Settings(
        database_url=postgres_url,
        broker_url=rabbitmq_url,
        relay_poll_interval_ms=50,
        retry_min_backoff_ms=100,
        retry_max_backoff_ms=500,
    )
    runtime = bootstrap(settings)
    upgrade(runtime.engine)
    stop = threading.Event()
    threads = [
        threading.Thread(target=run_worker, args=(runtime,), kwargs={"threads": 2, "stop": stop}),
        threading.Thread(target=run_relay, args=(runtime,), kwargs={"stop": stop}),
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for_topology(rabbitmq_url)
        yield Pipeline(runtime, rabbitmq_url)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=DEADLINE_S)
        runtime.close()


PAYMENT = """{
  "specversion": "1.0", "id": "evt-pay-1", "source": "billing", "type": "payment.received",
  "time": "2026-01-10T09:30:00+01:00",
  "data": {"order_id": "MI1001", "customer_id": "1234567@aruba.it", "service": "hosting",
           "amount": "120.00", "currency": "EUR", "paid_at": "2026-01-10T09:30:00+01:00",
           "method": "card", "reference": null}
}"""
FAILURE = """{
  "specversion": "1.0", "id": "evt-fail-1", "source": "billing", "type": "activation.failed",
  "time": "2026-01-11T10:00:00+01:00",
  "data": {"order_id": "MI1001", "failed_at": "2026-01-11T10:00:00+01:00",
           "reason": "the domain could not be registered"}
}"""
TRANSFER = """{
  "specversion": "1.0", "id": "evt-req-1", "source": "billing", "type": "credit.requested",
  "time": "2026-02-01T10:00:00+01:00",
  "data": {"request_id": "REQ-1", "customer_id": "1234567@aruba.it", "action": "transfer",
           "channel": "online_form", "requested_at": "2026-02-01T10:00:00+01:00",
           "new_order": {"order_id": "MI1003", "amount": "150.00", "currency": "EUR",
                         "purpose": "purchase", "service": "vps"}}
}"""
TOPUP = """{
  "specversion": "1.0", "id": "evt-pay-2", "source": "billing", "type": "payment.received",
  "time": "2026-02-03T10:00:00+01:00",
  "data": {"order_id": "MI1003", "customer_id": "1234567@aruba.it", "service": "vps",
           "amount": "30.00", "currency": "EUR", "paid_at": "2026-02-03T10:00:00+01:00",
           "method": "bonifico", "reference": "integrazione MI1003"}
}"""
SPID_PAYMENT = """{
  "specversion": "1.0", "id": "evt-pay-3", "source": "billing", "type": "payment.received",
  "time": "2026-01-10T09:30:00+01:00",
  "data": {"order_id": "MI2001", "customer_id": "7654321@aruba.it", "service": "spid",
           "amount": "49.90", "currency": "EUR", "paid_at": "2026-01-10T09:30:00+01:00",
           "method": "paypal", "reference": null}
}"""
LATE_ACTIVATION = """{
  "specversion": "1.0", "id": "evt-act-1", "source": "billing", "type": "activation.completed",
  "time": "2026-05-01T10:00:00+02:00",
  "data": {"order_id": "MI2001", "activated_at": "2026-05-01T10:00:00+02:00"}
}"""

# Valid JSON, but its id escapes a lone surrogate: no database or AMQP header takes it.
NOT_UNICODE_ID = b'{"specversion":"1.0","id":"evt-\\ud800","source":"b","type":"payment.received"}'


def has(*types: str) -> Callable[[list[dict[str, Any]]], bool]:
    """Every one of ``types`` among the notifications read."""
    return lambda received: set(types) <= {each["type"] for each in received}


def test_every_inbound_type_published_raw_comes_back_as_its_notification(
    pipeline: Pipeline,
) -> None:
    """Each inbound type, hand-written JSON published with bare pika, is applied, and
    the notification it causes is read from the default notifications queue."""
    pipeline.publish(PAYMENT, "payment.received")
    pipeline.publish(FAILURE, "activation.failed")
    pipeline.notifications(has("credit.granted"))

    pipeline.publish(TRANSFER, "credit.requested")
    pipeline.notifications(has("topup.required"))

    pipeline.publish(TOPUP, "payment.received")
    pipeline.notifications(has("order.funded"))

    pipeline.publish(SPID_PAYMENT, "payment.received")
    pipeline.publish(LATE_ACTIVATION, "activation.completed")
    pipeline.notifications(has("spid.order_cancelled", "event.rejected"))

    granted = {
        each["data"]["source_order_id"]: each["data"] for each in pipeline.of_type("credit.granted")
    }
    assert granted["MI1001"]["amount"] == "120.00"
    assert granted["MI2001"]["origin"] == "spid_timeout"
    (topup,) = pipeline.of_type("topup.required")
    assert topup["data"]["amount_due"] == "30.00"
    assert pipeline.of_type("order.funded")[0]["data"]["order_id"] == "MI1003"
    (rejected,) = pipeline.of_type("event.rejected")
    assert rejected["data"]["reason"] == "order_cancelled"
    for notification, properties in zip(pipeline.received, pipeline.headers, strict=True):
        assert properties == {
            "routing_key": notification["type"],
            "message_id": notification["id"],
            "delivery_mode": 2,
            "content_type": "application/json",
        }


def test_a_duplicate_and_an_early_event_have_one_effect_each(pipeline: Pipeline) -> None:
    """The failure arrives before its payment and twice: one credit, one notification."""
    pipeline.publish(FAILURE, "activation.failed")
    pipeline.publish(FAILURE, "activation.failed")
    pipeline.publish(PAYMENT, "payment.received")
    pipeline.publish(PAYMENT, "payment.received")

    pipeline.notifications(has("credit.granted"))
    pipeline.publish(TRANSFER, "credit.requested")
    pipeline.notifications(has("topup.required"))

    assert len(pipeline.of_type("credit.granted")) == 1
    assert pipeline.count(schema.credits) == 1
    assert pipeline.count(schema.inbox) == 3
    assert (
        pipeline.count(schema.journal_entries, schema.journal_entries.c.kind == "credit_granted")
        == 1
    )


def test_a_malformed_event_is_dead_lettered_with_its_reason_and_reported(
    pipeline: Pipeline,
) -> None:
    """Bad JSON, a bad amount and an id that is not Unicode (a lone surrogate) are not
    retried: each lands in the dead-letter queue with its reason, ops get
    ``event.rejected``, and the worker goes on consuming."""
    pipeline.publish(b"{not json", "payment.received")
    pipeline.publish(PAYMENT.replace('"120.00"', '"12.345"'), "payment.received")
    pipeline.publish(NOT_UNICODE_ID, "payment.received")

    letters = pipeline.dead_letters(3)
    pipeline.publish(PAYMENT, "payment.received")
    pipeline.publish(FAILURE, "activation.failed")
    pipeline.notifications(
        lambda received: (
            has("credit.granted")(received)
            and sum(each["type"] == "event.rejected" for each in received) == 3
        )
    )

    escaped_id = "evt-\\ud800"
    ((not_unicode, _),) = [
        letter for letter in letters if letter[0].headers.get("x-residuo-event-id") == escaped_id
    ]
    assert not_unicode.headers["x-residuo-reason"] == "bad_json"
    by_reason = {
        properties.headers["x-residuo-reason"]: (properties, body)
        for properties, body in letters
        if properties is not not_unicode
    }
    assert set(by_reason) == {"bad_json", "bad_amount"}
    bad_json, raw = by_reason["bad_json"]
    assert raw == b"{not json"
    assert bad_json.headers["x-residuo-queue"] == "residuo.events"
    bad_amount, body = by_reason["bad_amount"]
    assert bad_amount.headers["x-residuo-event-id"] == "evt-pay-1"
    assert "data.amount" in bad_amount.headers["x-residuo-detail"]
    assert json.loads(body)["data"]["amount"] == "12.345"
    reported = pipeline.of_type("event.rejected")
    assert sorted(each["data"]["reason"] for each in reported) == [
        "bad_amount",
        "bad_json",
        "bad_json",
    ]
    assert escaped_id in {each["data"]["event_id"] for each in reported}
    assert pipeline.count(schema.rejected_events) == 3


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def run_amqp_publish(path: str, url: str, *options: str) -> None:
    """Run ``amqp-publish`` to the events exchange, persistent, as docs/rabbitmq.md shows."""
    done = subprocess.run(
        [path, "--url", url, "--exchange", "residuo.events", "--persistent", *options],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_structured_event_with_a_traceparent_and_a_binary_mode_event_are_applied(
    pipeline: Pipeline, amqp_publish: str
) -> None:
    """Published raw with ``amqp-publish``: a structured event carrying a W3C
    ``traceparent`` extension, and its activation failure in binary content mode
    (attributes as ``cloudEvents_*`` headers, the data as the body). Both are applied:
    the credit is granted, the extension is kept with its event and the trace is on
    the event's log line."""
    structured = json.loads(PAYMENT) | {"traceparent": TRACEPARENT}
    failure = json.loads(FAILURE)
    headers = [
        option
        for name in ("specversion", "id", "source", "type", "time")
        for option in ("--header", f"cloudEvents_{name}: {failure[name]}")
    ]

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        run_amqp_publish(
            amqp_publish,
            pipeline.url,
            *("--routing-key", "payment.received"),
            *("--content-type", "application/cloudevents+json"),
            *("--body", json.dumps(structured)),
        )
        run_amqp_publish(
            amqp_publish,
            pipeline.url,
            *("--routing-key", "activation.failed"),
            *("--content-type", "application/json"),
            *headers,
            *("--header", f"cloudEvents_traceparent: {TRACEPARENT}"),
            *("--body", json.dumps(failure["data"])),
        )
        pipeline.notifications(has("credit.granted"))

    (granted,) = pipeline.of_type("credit.granted")
    assert granted["data"]["amount"] == "120.00"
    with pipeline.runtime.engine.connect() as connection:
        inbox = dict(
            connection.execute(select(schema.inbox.c.event_id, schema.inbox.c.status)).all()
        )
        payloads = connection.execute(select(schema.inbox.c.payload)).scalars().all()
    assert inbox == {"evt-pay-1": "applied", "evt-fail-1": "applied"}
    assert [each["traceparent"] for each in payloads] == [TRACEPARENT, TRACEPARENT]
    # The failure may be taken before its payment (two worker threads): parked, then
    # applied by the payment. Either way each event's own lines carry its trace.
    steps = {"event received", "event applied", "event parked"}
    lines = [entry for entry in logs if entry["event"] in steps]
    assert {entry["event_id"] for entry in lines} == {"evt-pay-1", "evt-fail-1"}
    assert {entry.get("traceparent") for entry in lines} == {TRACEPARENT}


class FlakyDatabase:
    """Stands in for ``Ledger.record`` while the database is "down": every call fails
    with a transient error until ``recover()``, and the calls are counted."""

    def __init__(self, record: Callable[..., Any]) -> None:
        self._record = record
        self.down = True
        self.failed_calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            self.failed_calls += 1
            raise ConnectionError("database unreachable")
        return self._record(*args, **kwargs)

    def recover(self) -> None:
        self.down = False


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_a_retry_that_cannot_be_enqueued_dead_letters_the_message(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the retry copy of a failed message cannot be enqueued, the original is
    dead-lettered (``retry_not_enqueued``) instead of being acked and lost (Dramatiq
    PR #545); replayed once the fault is gone, it is applied."""
    ledger = pipeline.runtime.ledger
    database = FlakyDatabase(ledger.record)
    monkeypatch.setattr(ledger, "record", database)
    broker = pipeline.runtime.broker
    enqueue = broker.enqueue

    def enqueue_refusing_retries(message: Any, *, delay: int | None = None) -> Any:
        if delay is not None:
            # DramatiqError.__init__ is unannotated.
            raise ConnectionClosed(OSError("the delay queue is unreachable"))  # type: ignore[no-untyped-call]
        return enqueue(message, delay=delay)

    monkeypatch.setattr(broker, "enqueue", enqueue_refusing_retries)

    pipeline.publish(PAYMENT, "payment.received")
    wait_until(
        lambda: list_dead_letters(pipeline.url, ["residuo.events"], limit=10) != [],
        "the dead letter",
    )
    (letter,) = list_dead_letters(pipeline.url, ["residuo.events"], limit=10)
    database.recover()
    replayed = replay_dead_letters(pipeline.url, "residuo.events", lambda each: True)
    wait_until(lambda: pipeline.count(schema.orders) == 1, "the replayed payment")

    assert letter.reason == "retry_not_enqueued"
    assert "database unreachable" in (letter.detail or "")
    assert "the delay queue is unreachable" in (letter.detail or "")
    assert letter.event_id == "evt-pay-1"
    assert [each.event_id for each in replayed] == ["evt-pay-1"]
    assert list_dead_letters(pipeline.url, ["residuo.events"], limit=10) == []


@pytest.mark.reliability
def test_a_broker_restart_while_a_worker_retries_loses_nothing(
    pipeline: Pipeline, rabbitmq_server: RabbitMQServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events failing on a database that is down are being retried with backoff when
    RabbitMQ restarts; once both are back every event is applied and the relay,
    reconnected, publishes its notification."""
    pipeline.publish(SPID_PAYMENT, "payment.received")
    pipeline.publish(LATE_ACTIVATION, "activation.completed")
    pipeline.notifications(has("spid.order_cancelled"))
    ledger = pipeline.runtime.ledger
    database = FlakyDatabase(ledger.record)
    monkeypatch.setattr(ledger, "record", database)
    pipeline.publish(PAYMENT, "payment.received")
    pipeline.publish(FAILURE, "activation.failed")
    wait_until(lambda: database.failed_calls >= 4, "retries of both events")

    rabbitmq_server.restart()
    database.recover()

    pipeline.notifications(lambda _: len(pipeline.of_type("credit.granted")) == 2)
    granted = {each["data"]["source_order_id"] for each in pipeline.of_type("credit.granted")}
    assert granted == {"MI1001", "MI2001"}
    assert pipeline.count(schema.inbox) == 4
    assert pipeline.count(schema.credits) == 2
