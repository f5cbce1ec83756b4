"""Nothing valid lost, nothing invalid stalls, on real RabbitMQ and PostgreSQL: poison
bodies and failing handlers end in the dead-letter queue with their reason, ops are
told once, and the events behind them are applied."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from integration.test_rabbitmq_pipeline import (
    DEADLINE_S,
    Pipeline,
    wait_for_topology,
    wait_until,
)

from ledger.store import schema
from ledger.store.migrate import upgrade
from messages import body_id
from residuo.bootstrap import bootstrap
from residuo.processes import run_relay, run_worker
from residuo.settings import Settings

pytestmark = pytest.mark.reliability

MAX_BODY_BYTES = 65_536


@contextmanager
def running(settings: Settings, *, probe_url: str | None = None) -> Iterator[Pipeline]:
    """A worker (two threads) and a relay in this process, on ``settings``; ready once
    the topology can be seen at ``probe_url`` (default: the broker URL)."""
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
        wait_for_topology(probe_url or settings.broker_url)
        yield Pipeline(runtime, probe_url or settings.broker_url)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=DEADLINE_S)
        runtime.close()


@pytest.fixture
def pipeline(postgres_url: str, rabbitmq_url: str) -> Iterator[Pipeline]:
    """Retrying every 100-500 ms: a transient fault 3 times, anything else twice."""
    settings = Settings(
        database_url=postgres_url,
        broker_url=rabbitmq_url,
        relay_poll_interval_ms=50,
        retry_min_backoff_ms=100,
        retry_max_backoff_ms=500,
        retry_max_retries=3,
        max_body_bytes=MAX_BODY_BYTES,
    )
    with running(settings) as pipeline:
        yield pipeline


def payment(number: int) -> dict[str, Any]:
    paid_at = "2026-01-10T09:30:00+01:00"
    return {
        "specversion": "1.0",
        "id": f"evt-pay-{number}",
        "source": "billing",
        "type": "payment.received",
        "time": paid_at,
        "data": {
            "order_id": f"MI{number:04d}",
            "customer_id": "1234567@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": paid_at,
            "method": "card",
            "reference": None,
        },
    }


def test_poison_bodies_are_dead_lettered_and_the_twenty_events_after_them_applied(
    pipeline: Pipeline,
) -> None:
    """A body nested 10,000 deep (objects, then arrays) and one over the size limit are
    dead-lettered as ``bad_json`` and ``body_too_large`` and reported once each; the
    20 valid events published after them are all applied."""
    deep_objects = b'{"a":' * 10_000 + b"{}" + b"}" * 10_000
    deep_arrays = b"[" * 10_000 + b"]" * 10_000
    oversized = json.dumps({**payment(0), "padding": "x" * MAX_BODY_BYTES}).encode()

    for poison in (deep_objects, deep_arrays, oversized):
        pipeline.publish(poison, "payment.received")
    for number in range(1, 21):
        pipeline.publish(json.dumps(payment(number)), "payment.received")

    wait_until(lambda: pipeline.count(schema.orders) == 20, "the 20 payments")
    letters = pipeline.dead_letters(3)
    pipeline.notifications(lambda received: len(received) >= 3)

    reasons = sorted(properties.headers["x-residuo-reason"] for properties, _ in letters)
    assert reasons == ["bad_json", "bad_json", "body_too_large"]
    assert {body for _, body in letters} == {deep_objects, deep_arrays, oversized}
    assert sorted(each["data"]["reason"] for each in pipeline.of_type("event.rejected")) == [
        "bad_json",
        "bad_json",
        "body_too_large",
    ]
    assert pipeline.count(schema.rejected_events) == 3
    assert pipeline.count(schema.inbox) == 20


class Raising:
    """Stands in for ``Ledger.record`` and raises ``error`` for the events in ``ids``."""

    def __init__(self, record: Callable[..., Any], error: Exception, ids: set[str]) -> None:
        self._record = record
        self._error = error
        self._ids = ids
        self.calls = 0

    def __call__(self, event: Any, **options: Any) -> Any:
        if event.id in self._ids:
            self.calls += 1
            raise self._error
        return self._record(event, **options)


def test_an_exception_in_a_handler_ends_in_the_dead_letter_queue_and_ops_are_told_once(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler raising something that is no known transient fault is tried three
    times, then the event lands in ``residuo.events.XQ`` as ``processing_error`` with
    the exception's type and message, and ops get one ``event.rejected``; the events
    around it are applied."""
    ledger = pipeline.runtime.ledger
    raising = Raising(ledger.record, OverflowError("date value out of range"), {"evt-pay-2"})
    monkeypatch.setattr(ledger, "record", raising)

    for number in (1, 2, 3):
        pipeline.publish(json.dumps(payment(number)), "payment.received")

    ((properties, body),) = pipeline.dead_letters(1)
    pipeline.notifications(lambda received: len(received) >= 1)
    wait_until(lambda: pipeline.count(schema.orders) == 2, "the other two payments")

    assert properties.headers["x-residuo-reason"] == "processing_error"
    assert properties.headers["x-residuo-detail"] == "OverflowError: date value out of range"
    assert properties.headers["x-residuo-event-id"] == "evt-pay-2"
    assert json.loads(body) == payment(2)
    assert raising.calls == 3
    (rejected,) = pipeline.of_type("event.rejected")
    assert rejected["data"] == {
        "event_id": "evt-pay-2",
        "event_type": "payment.received",
        "reason": "processing_error",
        "detail": "OverflowError: date value out of range",
        # One id: the report names the dead letter as `dead-letters list` shows it.
        "dead_letter_id": properties.headers["x-residuo-dead-letter-id"],
    }
    assert rejected["data"]["dead_letter_id"] == body_id(body)
    assert pipeline.count(schema.rejected_events) == 1


def test_exhausted_transient_retries_end_in_the_dead_letter_queue_and_ops_are_told(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transient fault that outlasts the retries: ``retries_exhausted``, reported with
    a ``rejected_events`` row, never silent."""
    ledger = pipeline.runtime.ledger
    raising = Raising(ledger.record, ConnectionError("database unreachable"), {"evt-pay-1"})
    monkeypatch.setattr(ledger, "record", raising)

    pipeline.publish(json.dumps(payment(1)), "payment.received")

    ((properties, _),) = pipeline.dead_letters(1)
    pipeline.notifications(lambda received: len(received) >= 1)

    assert properties.headers["x-residuo-reason"] == "retries_exhausted"
    assert raising.calls == 4
    (rejected,) = pipeline.of_type("event.rejected")
    assert rejected["data"]["reason"] == "retries_exhausted"
    assert pipeline.count(schema.rejected_events) == 1
