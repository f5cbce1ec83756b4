"""The relay against real PostgreSQL and RabbitMQ: confirmed, in order, one active relay
at a time, and nothing lost when the broker restarts under it."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

import pika
import pytest
from servers import RabbitMQServer
from sqlalchemy import Engine, func, select
from structlog.testing import capture_logs

from ledger.store import schema
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from workers.rabbitmq.publisher import RabbitmqPublisher
from workers.relay import Relay, RelayActiveError, relay_lease

DEADLINE_S = 60
CREATED_AT = datetime(2026, 1, 10, 8, 30, tzinfo=UTC)
CUSTOMERS = ("a@aruba.it", "b@aruba.it", "c@aruba.it")

_numbers = itertools.count()


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_database_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def queue_notifications(engine: Engine, count: int) -> list[str]:
    """Commit ``count`` outbox rows, customers taking turns; their ids, oldest first."""
    identifiers: list[str] = []
    rows: list[dict[str, object]] = []
    for _ in range(count):
        number = next(_numbers)
        identifier = f"n-{number:05d}"
        identifiers.append(identifier)
        customer = CUSTOMERS[number % len(CUSTOMERS)]
        payload = {"id": identifier, "type": "credit.granted", "data": {"customer_id": customer}}
        rows.append(
            {
                "notification_id": identifier,
                "type": "credit.granted",
                "customer_id": customer,
                "payload": json.dumps(payload),
                "created_at": CREATED_AT,
            }
        )
    with engine.begin() as connection:
        connection.execute(schema.outbox.insert(), rows)
    return identifiers


def unpublished(engine: Engine) -> int:
    query = select(func.count()).where(schema.outbox.c.published_at.is_(None))
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def drain(url: str) -> list[tuple[str, str, str]]:
    """(message id, routing key, customer) of everything in the notifications queue."""
    taken: list[tuple[str, str, str]] = []
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        while True:
            method, properties, body = channel.basic_get("residuo.notifications", auto_ack=True)
            if method is None:
                return taken
            customer = json.loads(body)["data"]["customer_id"]
            taken.append((properties.message_id, method.routing_key, customer))
    finally:
        connection.close()


class CountingPublisher(RabbitmqPublisher):
    """The real publisher, counting what it had confirmed."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.confirmed = 0

    def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        super().publish(routing_key, body, message_id)
        self.confirmed += 1


@contextmanager
def running(relay: Relay) -> Iterator[threading.Event]:
    """``relay`` running in a thread until the block ends; its stop event."""
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=DEADLINE_S)
        assert not thread.is_alive(), "the relay did not stop"


def relay(engine: Engine, publisher: RabbitmqPublisher) -> Relay:
    return Relay(engine, publisher, batch_size=20, poll_interval_ms=50)


def test_two_relays_publish_each_notification_once_in_outbox_order(
    engine: Engine, rabbitmq_url: str
) -> None:
    """Two relays running at once never publish a row twice, and the stream keeps
    the outbox order (so each customer's order): only one of them is active."""
    ids = queue_notifications(engine, 200)
    first, second = CountingPublisher(rabbitmq_url), CountingPublisher(rabbitmq_url)

    with running(relay(engine, first)), running(relay(engine, second)):
        wait_until(lambda: unpublished(engine) == 0, "the outbox to drain")

    received = drain(rabbitmq_url)
    assert [message_id for message_id, _, _ in received] == ids
    assert {routing_key for _, routing_key, _ in received} == {"credit.granted"}
    assert sorted([first.confirmed, second.confirmed]) == [0, 200]


def test_a_standby_relay_takes_over_when_the_active_one_stops(
    engine: Engine, rabbitmq_url: str
) -> None:
    """A relay started while another one publishes stands by, publishing nothing; once
    the active one stops, the standby publishes everything committed after."""
    before = queue_notifications(engine, 30)
    active, standby = CountingPublisher(rabbitmq_url), CountingPublisher(rabbitmq_url)

    with ExitStack() as standby_running:
        with running(relay(engine, active)):
            # Having published, the active relay holds the lease until it stops.
            wait_until(lambda: active.confirmed == 30, "the active relay to publish")
            standby_running.enter_context(running(relay(engine, standby)))
            during = queue_notifications(engine, 30)
            wait_until(lambda: unpublished(engine) == 0, "the active relay to publish more")
        after = queue_notifications(engine, 30)
        wait_until(lambda: unpublished(engine) == 0, "the standby to take over")

    assert (active.confirmed, standby.confirmed) == (60, 30)
    assert [message_id for message_id, _, _ in drain(rabbitmq_url)] == before + during + after


def test_the_replay_lease_is_refused_while_a_relay_is_active_and_holds_relays_off(
    engine: Engine, rabbitmq_url: str
) -> None:
    """What ``residuo replay`` holds: refused while a relay is active; once taken, a
    relay stands by, publishing nothing, until it is given up."""
    first = queue_notifications(engine, 10)
    active = CountingPublisher(rabbitmq_url)
    with running(relay(engine, active)):
        wait_until(lambda: active.confirmed == 10, "the relay to publish")
        with pytest.raises(RelayActiveError), relay_lease(engine):
            pass

    standby = CountingPublisher(rabbitmq_url)
    with ExitStack() as lease, capture_logs() as logs:
        lease.enter_context(relay_lease(engine))
        with running(relay(engine, standby)):
            later = queue_notifications(engine, 5)
            wait_until(
                lambda: any(
                    each["event"] == "another relay is active: standing by" for each in logs
                ),
                "the relay to stand by",
            )
            assert standby.confirmed == 0
            lease.close()
            wait_until(lambda: unpublished(engine) == 0, "the relay to take the lease")

    assert standby.confirmed == 5
    assert [message_id for message_id, _, _ in drain(rabbitmq_url)] == first + later


def test_a_broker_restart_while_the_relay_publishes_loses_no_notification(
    engine: Engine, rabbitmq_server: RabbitMQServer, rabbitmq_url: str
) -> None:
    """Rows keep committing while RabbitMQ restarts under a busy relay: afterwards
    every notification is in the durable queue (some perhaps twice: at least once),
    each customer's first copies in outbox order, and every row marked."""
    ids = queue_notifications(engine, 100)
    feeding = threading.Event()

    def feed() -> None:
        while not feeding.is_set():
            ids.extend(queue_notifications(engine, 5))
            time.sleep(0.02)

    feeder = threading.Thread(target=feed)
    with running(relay(engine, RabbitmqPublisher(rabbitmq_url))):
        feeder.start()
        try:
            rabbitmq_server.restart()
        finally:
            feeding.set()
            feeder.join()
        wait_until(lambda: unpublished(engine) == 0, "the relay to catch up")

    received = drain(rabbitmq_url)
    first_seen = list(dict.fromkeys(message_id for message_id, _, _ in received))
    assert set(first_seen) == set(ids)
    for customer in CUSTOMERS:
        of_customer = [m for m, _, c in received if c == customer]
        assert list(dict.fromkeys(of_customer)) == sorted(set(of_customer))
