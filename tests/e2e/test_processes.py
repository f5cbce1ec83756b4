"""``residuo worker`` and ``residuo relay`` as operators run them: real processes on real
PostgreSQL and RabbitMQ, stopped with SIGTERM or killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from ledger.store import schema
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade

pytestmark = pytest.mark.e2e

RESIDUO = Path(sys.executable).with_name("residuo")
DEADLINE_S = 90
ORDERS = 100


@dataclass
class Stack:
    """The servers, the environment every process gets, and a place for their logs."""

    engine: Engine
    broker_url: str
    environment: dict[str, str]
    logs: Path

    def start(self, verb: str, name: str, *arguments: str, **settings: str) -> Process:
        log = self.logs / f"{name}.log"
        environment = self.environment | {f"RESIDUO_{k.upper()}": v for k, v in settings.items()}
        with log.open("ab") as stderr:
            popen = subprocess.Popen(
                [str(RESIDUO), verb, *arguments],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        return Process(popen, log)

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RESIDUO), *arguments],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            check=False,
        )

    def count(self, table: Any, *where: Any) -> int:
        with self.engine.connect() as connection:
            query = select(func.count()).select_from(table).where(*where)
            return int(connection.execute(query).scalar_one())

    def publish(self, bodies: list[bytes]) -> None:
        """Publish raw events as upstream does: bare pika, confirmed, persistent."""
        connection = pika.BlockingConnection(pika.URLParameters(self.broker_url))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.exchange_declare("residuo.events", "topic", durable=True)
            for body in bodies:
                routing_key = json.loads(body)["type"]
                properties = pika.BasicProperties(delivery_mode=2)
                channel.basic_publish("residuo.events", routing_key, body, properties)
        finally:
            connection.close()

    def notifications(self, until: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Consume the notifications queue until ``until`` holds of all taken."""
        taken: list[dict[str, Any]] = []
        deadline = time.monotonic() + DEADLINE_S
        connection = pika.BlockingConnection(pika.URLParameters(self.broker_url))
        try:
            channel = connection.channel()
            while not until(taken):
                assert time.monotonic() < deadline, f"{len(taken)} notifications only"
                method, _, body = channel.basic_get("residuo.notifications", auto_ack=True)
                if method is None:
                    connection.sleep(0.05)
                else:
                    taken.append(json.loads(body))
        finally:
            connection.close()
        return taken

    def consumers(self, queue: str) -> int:
        """Consumers of ``queue`` (0 if it does not exist yet)."""
        return self._declared(queue)[1]

    def ready(self, queue: str) -> int:
        """Messages ready in ``queue`` (0 if it does not exist yet)."""
        return self._declared(queue)[0]

    def _declared(self, queue: str) -> tuple[int, int]:
        connection = pika.BlockingConnection(pika.URLParameters(self.broker_url))
        try:
            method = connection.channel().queue_declare(queue, passive=True).method
            return int(method.message_count), int(method.consumer_count)
        except pika.exceptions.ChannelClosedByBroker:
            return 0, 0
        finally:
            if connection.is_open:
                connection.close()

    def outbox_ids(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.execute(select(schema.outbox.c.notification_id)).scalars())


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    log: Path

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [each for each in self.log_lines() if each.get("event") == event]

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=DEADLINE_S)

    def stop(self) -> int:
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=DEADLINE_S)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def wait_until(condition: Callable[[], bool], what: str, *processes: Process) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        for process in processes:
            assert process.popen.poll() is None, f"{process.log.name} died:\n{process.tail()}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def scrape_metrics(stack: Stack, *others: Process) -> dict[tuple[str, tuple[str, ...]], float]:
    """Start ``residuo metrics``, scrape it once, stop it: each sample by name and labels."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exporter = stack.start("metrics", "metrics", "--host", "127.0.0.1", "--port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                scraped.append(response.read().decode())
        except OSError:
            return False
        return True

    scraped: list[str] = []
    wait_until(answers, "the metrics endpoint", exporter, *others)
    assert exporter.stop() == 0, exporter.tail()
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(scraped[0])
        for sample in family.samples
    }


@pytest.fixture
def stack(postgres_url: str, rabbitmq_url: str, tmp_path: Path) -> Iterator[Stack]:
    engine = create_database_engine(postgres_url)
    upgrade(engine)
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("RESIDUO_")
    }
    environment |= {
        "RESIDUO_DATABASE_URL": postgres_url,
        "RESIDUO_BROKER_URL": rabbitmq_url,
        "RESIDUO_LOG_LEVEL": "INFO",
        "RESIDUO_LOG_FORMAT": "json",
        "RESIDUO_RELAY_POLL_INTERVAL_MS": "100",
        "COLUMNS": "200",
    }
    yield Stack(engine, rabbitmq_url, environment, tmp_path)
    engine.dispose()


def order_events(count: int) -> list[bytes]:
    """A payment, then its activation failure, for ``count`` orders: one credit each."""
    bodies = []
    for number in range(count):
        order = f"MI{number:05d}"
        paid_at, failed_at = "2026-01-10T09:30:00+01:00", "2026-01-11T10:00:00+01:00"
        payment = {
            "specversion": "1.0",
            "id": f"evt-pay-{order}",
            "source": "billing",
            "type": "payment.received",
            "time": paid_at,
            "data": {
                "order_id": order,
                "customer_id": f"c{number % 7}@aruba.it",
                "service": "hosting",
                "amount": "10.00",
                "currency": "EUR",
                "paid_at": paid_at,
                "method": "card",
            },
        }
        failure = {
            "specversion": "1.0",
            "id": f"evt-fail-{order}",
            "source": "billing",
            "type": "activation.failed",
            "time": failed_at,
            "data": {"order_id": order, "failed_at": failed_at},
        }
        bodies += [json.dumps(payment).encode(), json.dumps(failure).encode()]
    return bodies


def granted(taken: list[dict[str, Any]]) -> set[str]:
    return {each["id"] for each in taken if each["type"] == "credit.granted"}


def test_a_worker_killed_mid_batch_and_restarted_applies_every_event_once(stack: Stack) -> None:
    """SIGKILL in the middle of a batch, then a restart: every event has exactly one
    effect, every notification is published at least once, and none reports a change
    that was rolled back."""
    relay = stack.start("relay", "relay")
    worker = stack.start("worker", "worker-1", worker_threads="4")
    # A worker consumes once it has bound the events exchange to its queue.
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", worker)
    stack.publish(order_events(ORDERS))
    wait_until(lambda: stack.count(schema.inbox) >= 20, "the batch to start", worker, relay)

    worker.kill()
    applied_at_kill = stack.count(schema.inbox)
    restarted = stack.start("worker", "worker-2", worker_threads="4")
    wait_until(lambda: stack.count(schema.inbox) == 2 * ORDERS, "every event", restarted, relay)
    taken = stack.notifications(lambda taken: len(granted(taken)) == ORDERS)

    restarted.stop()
    relay.stop()
    assert applied_at_kill < 2 * ORDERS, "the kill came after the batch: nothing was tested"
    assert stack.count(schema.orders) == ORDERS
    assert stack.count(schema.credits) == ORDERS
    assert (
        stack.count(schema.journal_entries, schema.journal_entries.c.kind == "credit_granted")
        == ORDERS
    )
    outbox = stack.outbox_ids()
    assert {each["id"] for each in taken} <= outbox
    assert len(outbox) == ORDERS
    assert stack.count(schema.outbox, schema.outbox.c.published_at.is_(None)) == 0


def test_sigterm_lets_in_flight_messages_finish_and_loses_nothing(stack: Stack) -> None:
    """A worker stopped with SIGTERM in the middle of a batch exits cleanly after
    finishing what it was doing: a new worker applies the rest, and no event is
    delivered to it twice (the first worker acknowledged all it had applied)."""
    worker = stack.start("worker", "worker-1", worker_threads="4")
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", worker)
    stack.publish(order_events(ORDERS))
    wait_until(lambda: stack.count(schema.inbox) >= 20, "the batch to start", worker)

    status = worker.stop()
    applied_at_stop = stack.count(schema.inbox)
    second = stack.start("worker", "worker-2", worker_threads="4")
    wait_until(lambda: stack.count(schema.inbox) == 2 * ORDERS, "every event", second)
    second.stop()

    assert status == 0, worker.tail()
    assert worker.logged("worker stopped")
    assert applied_at_stop < 2 * ORDERS, "the stop came after the batch: nothing was tested"
    recorded = [each["outcome"] for each in second.logged("event recorded")]
    assert "duplicate" not in recorded
    assert len(recorded) == 2 * ORDERS - applied_at_stop
    assert stack.count(schema.credits) == ORDERS


def test_a_killed_relay_hands_over_to_its_standby_and_nothing_is_lost(stack: Stack) -> None:
    """Two relay processes: one publishes, the other stands by. SIGKILL the active one
    mid-stream: the standby takes over, and every notification reaches the queue at
    least once, in outbox order."""
    ids = [f"n-{number:05d}" for number in range(3000)]
    with stack.engine.begin() as connection:
        connection.execute(
            schema.outbox.insert(),
            [
                {
                    "notification_id": each,
                    "type": "credit.granted",
                    "customer_id": "1234567@aruba.it",
                    "payload": json.dumps({"id": each, "type": "credit.granted"}),
                    "created_at": datetime.now(UTC),
                }
                for each in ids
            ],
        )
    relays = [stack.start("relay", f"relay-{n}", relay_batch_size="20") for n in (1, 2)]
    unpublished = schema.outbox.c.published_at.is_(None)
    wait_until(lambda: stack.count(schema.outbox, unpublished) < 2900, "publishing", *relays)
    (active,) = [each for each in relays if each.logged("relay active")]
    (standby,) = [each for each in relays if each is not active]

    active.kill()
    wait_until(lambda: bool(standby.logged("relay active")), "the takeover", standby)
    wait_until(lambda: stack.count(schema.outbox, unpublished) == 0, "the rest", standby)
    taken = stack.notifications(lambda taken: {each["id"] for each in taken} == set(ids))
    standby.stop()

    assert list(dict.fromkeys(each["id"] for each in taken)) == ids
    assert len(taken) - len(ids) <= 20, "more than one batch was published twice"


def test_operators_publish_inspect_and_replay_from_the_command_line(
    stack: Stack, tmp_path: Path
) -> None:
    """``residuo publish`` feeds the worker like any upstream; ``residuo dead-letters
    list`` says why a message was dead-lettered and ``replay`` sends it back to its
    queue; ``residuo status`` shows the queues, the dead letters and the outbox, and
    ``residuo metrics`` serves the same figures to Prometheus."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"specversion": "1.0", "id": "evt-bad", "type": "payment.received"}')
    published = stack.run("publish", str(bad))
    worker = stack.start("worker", "worker")
    stack.publish(order_events(1)[:1])
    wait_until(lambda: stack.ready("residuo.events.XQ") == 1, "the dead letter", worker)
    wait_until(lambda: stack.count(schema.orders) == 1, "the payment", worker)

    listed = stack.run("dead-letters", "list", "--json")
    status = stack.run("status", "--json")
    scraped = scrape_metrics(stack, worker)
    replayed = stack.run("dead-letters", "replay", "evt-bad")
    worker.stop()

    assert published.returncode == 0, published.stderr
    assert "routing key payment.received" in published.stdout
    (letter,) = json.loads(listed.stdout)["dead_letters"]
    assert letter["event_id"] == "evt-bad"
    assert letter["reason"] == "bad_schema"
    assert letter["queue"] == "residuo.events"
    assert json.loads(letter["body"])["id"] == "evt-bad"
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    queues = {row["queue"]: row for row in document["queues"]}
    assert queues["residuo.events"]["consumers"] == 1
    dead = {row["queue"]: row["messages"] for row in document["dead_letters"]}
    assert dead == {"residuo.events.XQ": 1, "residuo.sweeps.XQ": 0}
    assert document["outbox"][0]["unpublished"] == 1
    assert document["events"] == [{"parked": 0, "oldest_parked_age_seconds": None, "rejected": 1}]
    assert document["problems"] == {}
    assert scraped[("residuo_queue_consumers", ("residuo.events",))] == 1
    assert scraped[("residuo_dead_letters", ("residuo.events.XQ",))] == 1
    assert scraped[("residuo_dead_letters", ("residuo.sweeps.XQ",))] == 0
    assert scraped[("residuo_outbox_unpublished", ())] == 1
    assert scraped[("residuo_events_rejected", ())] == 1
    assert {labels for name, labels in scraped if name == "residuo_status_up"} == {
        (key,) for key in ("queues", "dead_letters", "outbox", "events", "sweeps")
    }
    assert all(value == 1 for (name, _), value in scraped.items() if name == "residuo_status_up")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 dead letters to residuo.events" in replayed.stdout
