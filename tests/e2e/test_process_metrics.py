"""Each process serves its own metrics (``--metrics-port``), scraped while it works on
real PostgreSQL and RabbitMQ; the worker's log follows each event by its id."""

from __future__ import annotations

import json
import platform
from importlib.metadata import version
from typing import Any

import pytest
from e2e.stack import Samples, Stack, free_port, order_events, scrape, wait_until

from ledger.store import schema

pytestmark = pytest.mark.e2e

ORDERS = 3


def invalid_event() -> bytes:
    body: dict[str, Any] = json.loads(order_events(1)[0])
    body["id"] = "evt-bad"
    body["data"]["amount"] = "-1.00"
    return json.dumps(body).encode()


def named(samples: Samples, name: str) -> dict[tuple[str, ...], float]:
    """The samples of ``name``, by their label values in the order of the label names."""
    return {labels: value for (each, labels), value in samples.items() if each == name}


def test_the_worker_and_the_relay_serve_what_they_did(stack: Stack) -> None:
    """Three orders paid, their activations failed (each failure maybe parked first),
    and one invalid event: the worker counts events by outcome and messages by actor,
    the relay counts notifications by type and times their confirms; both serve their
    process metrics and build info. The dead letter's log line names the event."""
    worker_port, relay_port = free_port(), free_port()
    metrics = ("--metrics-host", "127.0.0.1", "--metrics-port")
    worker = stack.start("worker", "worker", *metrics, str(worker_port))
    relay = stack.start("relay", "relay", *metrics, str(relay_port))
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", worker)

    stack.publish([*order_events(ORDERS), invalid_event()])
    wait_until(lambda: stack.count(schema.credits) == ORDERS, "the credits", worker)
    wait_until(lambda: stack.ready("residuo.events.XQ") == 1, "the dead letter", worker)
    unpublished = schema.outbox.c.published_at.is_(None)
    wait_until(lambda: stack.count(schema.outbox, unpublished) == 0, "the relay", relay)
    from_worker = scrape(worker_port, worker)
    from_relay = scrape(relay_port, relay)
    assert worker.stop() == 0, worker.tail()
    assert relay.stop() == 0, relay.tail()

    events = named(from_worker, "residuo_events_total")
    assert events[("payment.received", "applied")] == ORDERS
    failures_applied = events.get(("activation.failed", "applied"), 0)
    failures_parked = events.get(("activation.failed", "parked"), 0)
    assert failures_applied == ORDERS, "each failure applied, at once or once its payment came"
    assert failures_parked <= ORDERS
    assert events[("payment.received", "rejected")] == 1
    refused = named(from_worker, "residuo_events_refused_total")
    assert refused == {("payment.received", "bad_amount"): 1}
    messages = named(from_worker, "dramatiq_messages_total")
    assert messages[("payment_received", "residuo.events")] == ORDERS + 1
    assert messages[("activation_failed", "residuo.events")] == ORDERS
    rejects = named(from_worker, "dramatiq_message_rejects_total")
    assert rejects == {("payment_received", "residuo.events"): 1}
    durations = named(from_worker, "residuo_message_duration_seconds_count")
    assert durations[("payment_received", "processed")] == ORDERS
    assert durations[("payment_received", "dead_lettered")] == 1

    published = named(from_relay, "residuo_notifications_published_total")
    assert published[("credit.granted",)] == ORDERS
    assert published[("event.rejected",)] == 1
    confirms = named(from_relay, "residuo_relay_confirm_seconds_count")
    assert confirms[()] == sum(published.values())

    for samples in (from_worker, from_relay):
        assert named(samples, "process_cpu_seconds_total")[()] > 0
        assert named(samples, "process_start_time_seconds")[()] > 0
        # Labels by name: dramatiq, python, version.
        build = (version("dramatiq"), platform.python_version(), version("residuo"))
        assert named(samples, "residuo_build_info") == {build: 1}

    (dead,) = worker.logged("message dead-lettered")
    assert dead["event_id"] == "evt-bad"
    assert dead["event_type"] == "payment.received"
    assert dead["reason"] == "bad_amount"
    first_order = json.loads(order_events(1)[0])["id"]
    told = [line["event"] for line in worker.log_lines() if line.get("event_id") == first_order]
    assert told == ["event received", "event applied"]


def test_the_scheduler_serves_when_it_will_run_next(stack: Stack) -> None:
    """A scheduler started on an empty database sends the day's runs as catch-ups and
    says, on its metrics endpoint, when it last ticked and when it runs next."""
    port = free_port()
    scheduler = stack.start(
        "scheduler", "scheduler", "--metrics-host", "127.0.0.1", "--metrics-port", str(port)
    )
    wait_until(lambda: bool(scheduler.logged("sweep run sent (catch-up)")), "a run", scheduler)
    samples = scrape(port, scheduler)
    assert scheduler.stop() == 0, scheduler.tail()

    (started,) = scheduler.logged("scheduler started")
    assert samples[("residuo_scheduler_next_run_timestamp_seconds", ())] > 0
    assert samples[("residuo_scheduler_last_tick_timestamp_seconds", ())] > 0
    sent = named(samples, "residuo_scheduler_runs_sent_total")
    assert sent == {("true", "spid_timeout"): 1}, "labels by name: catch_up, kind"
    assert started["next_run_at"].endswith(("+01:00", "+02:00"))
