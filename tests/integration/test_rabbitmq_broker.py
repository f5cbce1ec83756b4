"""The Dramatiq broker's gaps, closed, against a real RabbitMQ: nothing published is
dropped, and nothing received is nacked away without a reason."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from dramatiq import Worker

from residuo.bootstrap import Runtime, bootstrap
from residuo.settings import Settings
from workers.ingress import publish_event
from workers.rabbitmq.broker import ResiduoRabbitmqBroker

DEADLINE_S = 60

PAYMENT = {
    "specversion": "1.0",
    "id": "evt-pay-1",
    "source": "billing",
    "type": "payment.received",
    "time": "2026-01-10T09:30:00+01:00",
    "data": {
        "order_id": "MI1001",
        "customer_id": "1234567@aruba.it",
        "service": "hosting",
        "amount": "120.00",
        "currency": "EUR",
        "paid_at": "2026-01-10T09:30:00+01:00",
        "method": "card",
    },
}


@pytest.fixture
def runtime(rabbitmq_url: str, tmp_path: Path) -> Iterator[Runtime]:
    # The books are never reached: these messages stop at the broker or its consumer.
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'books.sqlite3'}", broker_url=rabbitmq_url
    )
    with bootstrap(settings) as runtime:
        yield runtime


def broker_of(runtime: Runtime) -> ResiduoRabbitmqBroker:
    assert isinstance(runtime.broker, ResiduoRabbitmqBroker)
    return runtime.broker


def ready(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def take(url: str, queue: str, count: int) -> list[tuple[Any, bytes]]:
    """Wait for ``count`` messages in ``queue`` and take them."""
    taken: list[tuple[Any, bytes]] = []
    deadline = time.monotonic() + DEADLINE_S
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        while len(taken) < count:
            assert time.monotonic() < deadline, f"only {len(taken)} messages in {queue}"
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                connection.sleep(0.05)
            else:
                taken.append((properties, body))
    finally:
        connection.close()
    return taken


def test_a_publish_to_a_deleted_queue_declares_it_again_with_its_binding(
    runtime: Runtime, rabbitmq_url: str
) -> None:
    """With the queue deleted under it, an enqueue is returned as unroutable, the queue
    and its exchange binding are declared again, and the message is delivered: a raw
    publish to the exchange reaches the queue again too."""
    broker = broker_of(runtime)
    publish_event(broker, json.dumps(PAYMENT).encode())
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        channel.queue_delete("residuo.events")

        broker.enqueue(runtime.actors.by_event_type["payment.received"].message(PAYMENT))
        channel.confirm_delivery()
        channel.basic_publish("residuo.events", "payment.received", json.dumps(PAYMENT).encode())
    finally:
        connection.close()

    assert ready(rabbitmq_url, "residuo.events") == 2


def test_dead_letters_never_expire(runtime: Runtime, rabbitmq_url: str) -> None:
    """The ``.XQ`` has no message TTL (Dramatiq's would drop dead letters after seven
    days): declaring it again without arguments is only accepted if it has none."""
    publish_event(broker_of(runtime), json.dumps(PAYMENT).encode())
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        declared = connection.channel().queue_declare("residuo.events.XQ", durable=True)
    finally:
        connection.close()

    assert declared.method.queue == "residuo.events.XQ"


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[Worker]:
    worker = Worker(runtime.broker, worker_threads=1)
    worker.start()
    yield worker
    worker.stop()


def test_bodies_a_queue_cannot_take_are_dead_lettered_with_the_reason(
    runtime: Runtime, worker: Worker, rabbitmq_url: str
) -> None:
    """A raw body on a queue taking only Dramatiq messages, and a message naming
    another queue, are neither dropped nor silently nacked: each is dead-lettered,
    byte for byte, saying why."""
    sweep = runtime.actors.by_sweep_kind["expiry"].message("2026-01-10T00:00:00+01:00", None)
    deadline = time.monotonic() + DEADLINE_S
    # The worker declares its queues one by one as its consumers start: wait for every
    # queue this test publishes to or reads from, or a publish to one not declared yet
    # is unroutable and a read of a dead-letter queue not declared yet is refused.
    queues = ("residuo.events", "residuo.events.XQ", "residuo.sweeps", "residuo.sweeps.XQ")
    while any(ready_or_none(rabbitmq_url, queue) is None for queue in queues):
        assert time.monotonic() < deadline, "the worker never declared its queues"
        time.sleep(0.05)
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", "residuo.sweeps", b"run the expiry sweep please")
        channel.basic_publish("", "residuo.events", sweep.encode())
    finally:
        connection.close()

    ((sweeps_letter, sweeps_body),) = take(rabbitmq_url, "residuo.sweeps.XQ", 1)
    ((events_letter, events_body),) = take(rabbitmq_url, "residuo.events.XQ", 1)

    assert sweeps_body == b"run the expiry sweep please"
    assert sweeps_letter.headers["x-residuo-reason"] == "not_a_message"
    assert events_body == sweep.encode()
    assert events_letter.headers["x-residuo-reason"] == "wrong_queue"
    assert "residuo.sweeps" in events_letter.headers["x-residuo-detail"]


def ready_or_none(url: str, queue: str) -> int | None:
    try:
        return ready(url, queue)
    except pika.exceptions.ChannelClosedByBroker:
        return None


def test_an_idle_publisher_whose_connection_died_publishes_on_a_new_one(
    runtime: Runtime, rabbitmq_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A thread's publishing connection that died while it sat idle is noticed and
    replaced before the next publish, which succeeds at its first attempt."""
    broker = broker_of(runtime)
    message = runtime.actors.by_event_type["payment.received"].message(PAYMENT)
    broker.enqueue(message)
    first = broker.connection
    # What a broker restart or missed heartbeats do to an idle connection: its socket
    # is closed under it (through pika's internals, as no public API can).
    first._impl._transport._sock.shutdown(socket.SHUT_RDWR)

    caplog.set_level(logging.DEBUG)
    broker.enqueue(message)

    assert broker.connection is not first
    assert "Retrying enqueue" not in caplog.text
    assert ready(rabbitmq_url, "residuo.events") == 2
