"""The whole pipeline on RabbitMQ and PostgreSQL, against Dramatiq doing nothing.

``end_to_end``: ``n`` mixed events (the story of ``ledger_throughput``) published raw
to the ``residuo.events`` exchange while no worker runs; then one ``residuo worker``
process (``threads`` threads) and one ``residuo relay`` process take them from the
queue to notifications on the ``residuo.notifications`` queue. Timed from the moment
the worker's consumer attaches until every event is in the inbox and every
notification is confirmed on the queue. Baseline: ``n`` messages for a no-op
Dramatiq actor on the same broker drained by a worker process with the same threads
(``dramatiq_baseline``), timed the same way.

``latency``: events published one by one at ``rate`` per second to a running
worker and relay; for every event that causes a notification (a failure makes
``credit.granted``, a transfer ``credit.applied`` or its refusal), the time from its
publish starting to its notification arriving on a consumer of the notifications
queue.
Baseline: messages at the same rate to an echo actor that republishes each with
confirms to a queue read by the same kind of consumer.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import pika
from sqlalchemy import Engine, text

from benchmarks._kit import Comparison, Figure
from benchmarks.dramatiq_baseline import ECHO_QUEUE, ECHOED_QUEUE, NOOP_QUEUE, declare
from benchmarks.ledger_throughput import story
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import InboundEvent
from workers.broker import create_broker
from workers.rabbitmq.topology import EVENTS_EXCHANGE

__all__ = ["end_to_end", "latency"]

_RESIDUO: Final = Path(sys.executable).with_name("residuo")
_EVENTS_QUEUE: Final = "residuo.events"
_NOTIFICATIONS_QUEUE: Final = "residuo.notifications"
_DEADLINE_S: Final = 600
_TICK_S: Final = 0.05


def _environment(database_url: str, broker_url: str, threads: int) -> dict[str, str]:
    return os.environ | {
        "RESIDUO_DATABASE_URL": database_url,
        "RESIDUO_BROKER_URL": broker_url,
        "RESIDUO_WORKER_THREADS": str(threads),
        "RESIDUO_LOG_LEVEL": "WARNING",
    }


@contextmanager
def _process(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    popen = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    try:
        yield popen
    finally:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def _queue(url: str, name: str) -> tuple[int, int] | None:
    """(ready messages, consumers) of queue ``name``; None while it does not exist."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        declared = connection.channel().queue_declare(name, passive=True)
        return declared.method.message_count, declared.method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:
        return None
    finally:
        if connection.is_open:
            connection.close()


def _consumers(url: str, name: str) -> int:
    counts = _queue(url, name)
    return 0 if counts is None else counts[1]


def _ready(url: str, name: str) -> int | None:
    counts = _queue(url, name)
    return None if counts is None else counts[0]


def _wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + _DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(_TICK_S)


def _body(event: InboundEvent) -> bytes:
    return event.model_dump_json(exclude_none=False).encode()


class _RawPublisher:
    """Publishes raw CloudEvents to the events exchange, confirmed, as upstream does."""

    def __init__(self, url: str) -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        self._channel = self._connection.channel()
        self._channel.confirm_delivery()

    def publish(self, event: InboundEvent) -> None:
        self._channel.basic_publish(
            EVENTS_EXCHANGE,
            event.type,
            _body(event),
            pika.BasicProperties(delivery_mode=2, content_type="application/json"),
            mandatory=True,
        )

    def close(self) -> None:
        self._connection.close()


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        inbox = connection.execute(text("SELECT count(*) FROM inbox")).scalar_one()
        unpublished = connection.execute(
            text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        ).scalar_one()
    return int(inbox), int(unpublished)


def _cpu_s(process: subprocess.Popen[bytes]) -> float:
    """User and system CPU seconds ``process`` (all its threads) has used so far."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _residuo_round(
    database_url: str, broker_url: str, n: int, threads: int, cpu: dict[str, list[float]]
) -> float:
    """Events per second, worker consumer attached → last notification on the queue;
    the worker's and the relay's CPU milliseconds per event added to ``cpu``."""
    engine = create_database_engine(database_url)
    upgrade(engine)
    env = _environment(database_url, broker_url, threads)
    worker = [str(_RESIDUO), "worker"]
    # A first worker declares the queues and bindings, then leaves before the events.
    with _process(worker, env):
        _wait_until(lambda: _consumers(broker_url, _EVENTS_QUEUE) > 0, "the worker")
    events = list(story(n // 4))
    publisher = _RawPublisher(broker_url)
    for event in events:
        publisher.publish(event)
    publisher.close()
    with _process([str(_RESIDUO), "relay"], env) as relay:
        _wait_until(lambda: _queue(broker_url, _NOTIFICATIONS_QUEUE) is not None, "the relay")
        with _process(worker, env) as working:
            _wait_until(lambda: _consumers(broker_url, _EVENTS_QUEUE) > 0, "the worker")
            started = time.perf_counter()
            before = _cpu_s(working), _cpu_s(relay)
            _wait_until(lambda: _counts(engine) == (len(events), 0), "every notification")
            seconds = time.perf_counter() - started
            cpu["worker_cpu_ms_per_event"].append(1000 * (_cpu_s(working) - before[0]) / n)
            cpu["relay_cpu_ms_per_event"].append(1000 * (_cpu_s(relay) - before[1]) / n)
    engine.dispose()
    return len(events) / seconds


def _noop_round(broker_url: str, n: int, threads: int, cpu: dict[str, list[float]]) -> float:
    """Messages per second, worker consumer attached → the no-op queue drained; the
    worker's CPU milliseconds per message added to ``cpu``."""
    broker = create_broker(broker_url)
    noop, _ = declare(broker, broker_url)
    for number in range(n):
        noop.send(number)
    broker.close()
    argv = [sys.executable, "-m", "benchmarks.dramatiq_baseline", broker_url, str(threads)]
    with _process(argv, dict(os.environ)) as working:
        _wait_until(lambda: _consumers(broker_url, NOOP_QUEUE) > 0, "the no-op worker")
        started = time.perf_counter()
        before = _cpu_s(working)
        _wait_until(lambda: _ready(broker_url, NOOP_QUEUE) == 0, "the no-op drain")
        seconds = time.perf_counter() - started
        cpu["noop_worker_cpu_ms_per_message"].append(1000 * (_cpu_s(working) - before) / n)
    return n / seconds


def end_to_end(database_url: Any, broker_url: Any, n: int, threads: int, rounds: int) -> Comparison:
    """Events per second through the pipeline against the no-op drain; each round on a
    fresh database and vhost (``database_url()``, ``broker_url()`` make them)."""
    comparison = Comparison(
        f"end-to-end, {n:,} mixed events → notifications, 1 worker × {threads} threads",
        "Dramatiq no-op actor, same broker and threads",
        "events/s",
    )
    print("end-to-end", file=sys.stderr, flush=True)
    cpu: dict[str, list[float]] = defaultdict(list)
    for number in range(rounds):
        comparison.subject.values.append(
            _residuo_round(database_url(), broker_url(), n, threads, cpu)
        )
        comparison.baseline.values.append(_noop_round(broker_url(), n, threads, cpu))
        print(
            f"  round {number + 1}/{rounds}: {comparison.subject.values[-1]:,.0f} vs "
            f"{comparison.baseline.values[-1]:,.0f}",
            file=sys.stderr,
            flush=True,
        )
    comparison.notes = {name: Figure(values).summary() for name, values in cpu.items()}
    return comparison


class _Arrivals:
    """A consumer of ``queue`` recording when each message arrives, by a key of its body."""

    def __init__(self, url: str, queue: str, key: Any) -> None:
        self.arrived: dict[str, float] = {}
        self._url, self._queue, self._key = url, queue, key
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._consume, daemon=True)
        self._ready = threading.Event()

    def __enter__(self) -> _Arrivals:
        self._thread.start()
        self._ready.wait(60)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self._url))
        channel = connection.channel()
        channel.queue_declare(
            self._queue, passive=self._queue == _NOTIFICATIONS_QUEUE, durable=True
        )
        self._ready.set()
        for method, _, body in channel.consume(self._queue, auto_ack=True, inactivity_timeout=0.1):
            if self._stop.is_set():
                break
            if method is None:
                continue
            key = self._key(body)
            if key is not None:
                self.arrived.setdefault(key, time.perf_counter())
        connection.close()


def _notification_key(body: bytes) -> str | None:
    envelope = json.loads(body)
    data = envelope["data"]
    if envelope["type"] == "credit.granted":
        return f"fail-{data['source_order_id'][1:]}"
    # A transfer handled before the failure that made its credit (four threads take
    # events in parallel) is refused: its answer all the same.
    if envelope["type"] in {"credit.applied", "topup.required", "request.rejected"}:
        return f"req-{data['request_id'][1:]}"
    return None


def _paced(count: int, rate: float, send: Any) -> dict[str, float]:
    """Call ``send(i)`` ``count`` times at ``rate`` per second; when each began, by the
    key it returned."""
    sent: dict[str, float] = {}
    interval = 1 / rate
    start = time.perf_counter()
    for number in range(count):
        pause = start + number * interval - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        # From when the publish starts: a confirm may come back after the answer does.
        at = time.perf_counter()
        key = send(number)
        if key is not None:
            sent[key] = at
    return sent


def _latencies_ms(sent: dict[str, float], arrived: dict[str, float]) -> list[float]:
    _wait_until(lambda: set(sent) <= set(arrived), f"{len(set(sent) - set(arrived))} answers")
    return sorted(1000 * (arrived[key] - at) for key, at in sent.items())


def _percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def _residuo_latency(
    database_url: str, broker_url: str, n: int, threads: int, rate: float
) -> list[float]:
    engine = create_database_engine(database_url)
    upgrade(engine)
    engine.dispose()
    env = _environment(database_url, broker_url, threads)
    events = list(story(n // 4))
    with _process([str(_RESIDUO), "relay"], env):
        _wait_until(lambda: _queue(broker_url, _NOTIFICATIONS_QUEUE) is not None, "the relay")
        with _process([str(_RESIDUO), "worker"], env):
            _wait_until(lambda: _consumers(broker_url, _EVENTS_QUEUE) > 0, "the worker")
            with _Arrivals(broker_url, _NOTIFICATIONS_QUEUE, _notification_key) as arrivals:
                publisher = _RawPublisher(broker_url)

                def send(number: int) -> str | None:
                    event = events[number]
                    publisher.publish(event)
                    return event.id if event.id.startswith(("fail-", "req-")) else None

                sent = _paced(len(events), rate, send)
                latencies = _latencies_ms(sent, arrivals.arrived)
                publisher.close()
    return latencies


def _echo_latency(broker_url: str, n: int, threads: int, rate: float) -> list[float]:
    argv = [sys.executable, "-m", "benchmarks.dramatiq_baseline", broker_url, str(threads)]
    broker = create_broker(broker_url)
    _, echo = declare(broker, broker_url)
    with _process(argv, dict(os.environ)):
        _wait_until(lambda: _consumers(broker_url, ECHO_QUEUE) > 0, "the echo worker")
        with _Arrivals(broker_url, ECHOED_QUEUE, bytes.decode) as arrivals:

            def send(number: int) -> str:
                echo.send(f"echo-{number}")
                return f"echo-{number}"

            sent = _paced(n, rate, send)
            latencies = _latencies_ms(sent, arrivals.arrived)
    broker.close()
    return latencies


def latency(
    database_url: Any, broker_url: Any, n: int, threads: int, *, rate: float, rounds: int
) -> list[Comparison]:
    """p50 and p99 publish → notification at ``rate`` events/s against the echo actor."""
    p50 = Comparison(f"p50 publish → notification at {rate:,.0f} events/s", "echo actor", "ms")
    p99 = Comparison(f"p99 publish → notification at {rate:,.0f} events/s", "echo actor", "ms")
    print(f"latency at {rate:,.0f} events/s", file=sys.stderr, flush=True)
    for number in range(rounds):
        ours = _residuo_latency(database_url(), broker_url(), n, threads, rate)
        theirs = _echo_latency(broker_url(), n, threads, rate)
        for comparison, fraction in ((p50, 0.5), (p99, 0.99)):
            comparison.subject.values.append(_percentile(ours, fraction))
            comparison.baseline.values.append(_percentile(theirs, fraction))
        print(
            f"  round {number + 1}/{rounds}: p50 {p50.subject.values[-1]:.1f} ms, "
            f"p99 {p99.subject.values[-1]:.1f} ms vs echo p99 {p99.baseline.values[-1]:.1f} ms",
            file=sys.stderr,
            flush=True,
        )
    for comparison in (p50, p99):
        comparison.notes = {"events_per_round": n, "rate_per_second": rate}
    return [p50, p99]
