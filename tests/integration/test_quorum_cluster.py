"""Beyond one broker node: residuo's queues declared as quorum queues on a three-node
RabbitMQ cluster; the node the worker, the relay and the publisher are connected to
(and where every queue's leader is) is stopped in the middle of a load, and nothing
is lost: every event applied once, every notification published, no dead letter."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pika
import pika.exceptions
import pytest
from integration.test_poison_rabbitmq import running
from integration.test_rabbitmq_pipeline import wait_until
from publishing import PERSISTENT
from servers import LocalRabbitMQCluster
from sqlalchemy import func, select

from ledger.store import schema
from residuo.settings import Settings

pytestmark = pytest.mark.reliability

ORDERS = 150
QUEUES = ("residuo.events", "residuo.events.DQ", "residuo.events.XQ", "residuo.notifications")
DEADLINE_S = 120


def order_events(number: int) -> list[dict[str, Any]]:
    """A payment, then the failure of its activation: one credit."""
    order, paid_at = f"MI{number:05d}", "2026-01-10T09:30:00+01:00"
    failed_at = "2026-01-11T10:00:00+01:00"
    envelope = {"specversion": "1.0", "source": "billing"}
    return [
        envelope
        | {
            "id": f"evt-pay-{number}",
            "type": "payment.received",
            "time": paid_at,
            "data": {
                "order_id": order,
                "customer_id": f"{number:07d}@aruba.it",
                "service": "hosting",
                "amount": "10.00",
                "currency": "EUR",
                "paid_at": paid_at,
                "method": "card",
                "reference": None,
            },
        },
        envelope
        | {
            "id": f"evt-fail-{number}",
            "type": "activation.failed",
            "time": failed_at,
            "data": {"order_id": order, "failed_at": failed_at},
        },
    ]


class FailoverPublisher(threading.Thread):
    """Publishes events as upstream would, confirmed, to whichever node answers: a
    publish cut by a node going away is made again on another (events are idempotent
    by id, so a second copy changes nothing)."""

    def __init__(self, urls: list[str], events: list[dict[str, Any]]) -> None:
        super().__init__()
        self._parameters = [pika.URLParameters(url) for url in urls]
        self._events = events
        self.published = 0
        self.failovers = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._publish_all()
        except BaseException as error:
            self.error = error

    def _publish_all(self) -> None:
        deadline = time.monotonic() + DEADLINE_S
        channel = None
        for event in self._events:
            while True:
                assert time.monotonic() < deadline, "the cluster never took the events"
                try:
                    if channel is None:
                        channel = pika.BlockingConnection(self._parameters).channel()
                        channel.confirm_delivery()
                    body = json.dumps(event).encode()
                    channel.basic_publish(
                        "residuo.events", event["type"], body, PERSISTENT, mandatory=True
                    )
                    break
                except pika.exceptions.UnroutableError:
                    # The worker declared the exchange but not yet its binding.
                    time.sleep(0.05)
                except pika.exceptions.AMQPError:
                    self.failovers += 1
                    channel = None
                    time.sleep(0.2)
            self.published += 1
            # A steady trickle, so that the load spans the node's going away.
            time.sleep(0.01)
        if channel is not None and channel.connection.is_open:
            channel.connection.close()


@pytest.fixture
def cluster(rabbitmq_cluster: LocalRabbitMQCluster) -> Iterator[LocalRabbitMQCluster]:
    yield rabbitmq_cluster
    # Whatever the test stopped is running again for whoever comes next.
    for node in rabbitmq_cluster.nodes:
        node.start()


def test_a_node_stopped_under_load_loses_nothing_with_quorum_queues(
    cluster: LocalRabbitMQCluster, postgres_url: str
) -> None:
    """300 events published while the first node (worker, relay and publisher on it,
    every queue's leader there) is stopped: all applied once, 150 credits, 150
    ``credit.granted`` read back from the survivors, no dead letter."""
    first, *survivors = cluster.nodes
    settings = Settings(
        database_url=postgres_url,
        broker_url=cluster.url,
        broker_queue_type="quorum",
        relay_poll_interval_ms=50,
        retry_min_backoff_ms=100,
        retry_max_backoff_ms=1_000,
    )
    events = [event for number in range(ORDERS) for event in order_events(number)]
    with running(settings, probe_url=first.url) as pipeline:
        publisher = FailoverPublisher([node.url for node in cluster.nodes], events)
        publisher.start()
        wait_until(lambda: publisher.published >= len(events) // 3, "a third published")
        applied_before_the_stop = pipeline.count(schema.inbox)
        first.stop()
        publisher.join(timeout=DEADLINE_S)

        assert publisher.error is None, publisher.error
        wait_until(lambda: pipeline.count(schema.inbox) == len(events), "every event")
        wait_until(lambda: unpublished(pipeline) == 0, "the relay to publish everything")
        granted = credits_granted(survivors[0].url)
        types = queue_types(survivors[0])
        dead_letters = ready(survivors[0].url, "residuo.events.XQ")

    assert 0 < applied_before_the_stop < len(events)
    assert publisher.published == len(events)
    assert publisher.failovers >= 1
    assert pipeline.count(schema.credits) == ORDERS
    assert len(granted) == ORDERS
    assert dead_letters == 0
    assert {queue: types[queue] for queue in QUEUES} == dict.fromkeys(QUEUES, "quorum")


def unpublished(pipeline: Any) -> int:
    with pipeline.runtime.engine.connect() as connection:
        query = select(func.count()).where(schema.outbox.c.published_at.is_(None))
        return int(connection.execute(query).scalar_one())


def credits_granted(url: str) -> set[str]:
    """The distinct ``credit.granted`` notifications in the default notifications queue."""
    found: set[str] = set()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        while True:
            method, _, body = channel.basic_get("residuo.notifications", auto_ack=True)
            if method is None:
                return found
            notification = json.loads(body)
            if notification["type"] == "credit.granted":
                found.add(notification["id"])
    finally:
        connection.close()


def ready(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def queue_types(node: Any) -> dict[str, str]:
    listed = json.loads(node.rabbitmqctl("list_queues", "name", "type", "--formatter", "json"))
    return {each["name"]: each["type"] for each in listed}
