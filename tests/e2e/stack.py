"""Residuo's own processes on real PostgreSQL and RabbitMQ, as operators run them:
started with the installed ``residuo`` command, logging JSON to a file each, stopped
with SIGTERM or killed with SIGKILL."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
from prometheus_client.parser import text_string_to_metric_families
from publishing import publish_routed
from sqlalchemy import Engine, func, select

from ledger.store import schema

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
        """Publish raw events as a careful upstream client does: bare pika, confirmed,
        ``mandatory``, persistent (``publishing``)."""
        messages = [(json.loads(body)["type"], body) for body in bodies]
        publish_routed(self.broker_url, messages, properties=pika.BasicProperties(delivery_mode=2))

    def publish_raw(self, body: bytes, routing_key: str) -> None:
        """Publish one body as it is, confirmed and ``mandatory``, to the events exchange."""
        properties = pika.BasicProperties(delivery_mode=2)
        publish_routed(self.broker_url, [(routing_key, body)], properties=properties)

    def dead_letter(self, body: bytes, *, reason: str) -> None:
        """Put ``body`` straight into ``residuo.events.XQ``, as the worker would after
        giving up on it for ``reason``."""
        event = json.loads(body)
        headers = {
            "x-residuo-reason": reason,
            "x-residuo-queue": "residuo.events",
            "x-residuo-event-id": event["id"],
            "x-residuo-event-type": event["type"],
        }
        connection = pika.BlockingConnection(pika.URLParameters(self.broker_url))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            properties = pika.BasicProperties(delivery_mode=2, headers=headers)
            channel.basic_publish("", "residuo.events.XQ", body, properties)
        finally:
            connection.close()

    def dispositions(self) -> list[dict[str, Any]]:
        """The audit rows of ``dead-letters replay|drop|archive``, oldest first."""
        table = schema.dead_letter_dispositions
        with self.engine.connect() as connection:
            rows = connection.execute(select(table).order_by(table.c.disposition_id))
            return [dict(row._mapping) for row in rows]

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


Samples = dict[tuple[str, tuple[str, ...]], float]
"""Scraped samples by name and label values."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def scrape(port: int, *processes: Process) -> Samples:
    """Scrape http://127.0.0.1:port/metrics once it answers (the processes alive)."""
    url = f"http://127.0.0.1:{port}/metrics"
    scraped: list[str] = []

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                scraped.append(response.read().decode())
        except OSError:
            return False
        return True

    wait_until(answers, f"the metrics endpoint on port {port}", *processes)
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(scraped[0])
        for sample in family.samples
    }


def scrape_metrics(stack: Stack, *others: Process) -> Samples:
    """Start ``residuo metrics``, scrape it once, stop it."""
    port = free_port()
    exporter = stack.start("metrics", "metrics", "--host", "127.0.0.1", "--port", str(port))
    samples = scrape(port, exporter, *others)
    assert exporter.stop() == 0, exporter.tail()
    return samples


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
