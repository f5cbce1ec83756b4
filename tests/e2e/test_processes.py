"""``residuo worker`` and ``residuo relay`` as operators run them: real processes on real
PostgreSQL and RabbitMQ, stopped with SIGTERM or killed with SIGKILL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from e2e.stack import ORDERS, Stack, granted, order_events, scrape_metrics, wait_until

from ledger.store import schema

pytestmark = pytest.mark.e2e


@pytest.mark.reliability
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


@pytest.mark.reliability
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
    outcomes = ("event applied", "event parked", "event refused", "event duplicate")
    recorded = [each["outcome"] for each in second.log_lines() if each.get("event") in outcomes]
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
    assert scraped[("residuo_events_rejected_total", ())] == 1
    assert {labels for name, labels in scraped if name == "residuo_status_up"} == {
        (key,) for key in ("queues", "dead_letters", "outbox", "events", "sweeps")
    }
    assert all(value == 1 for (name, _), value in scraped.items() if name == "residuo_status_up")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 dead letters to residuo.events" in replayed.stdout
