"""``residuo worker`` and ``residuo relay`` as operators run them: real processes on real
PostgreSQL and RabbitMQ, stopped with SIGTERM or killed with SIGKILL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from e2e.stack import ORDERS, Stack, granted, order_events, scrape_metrics, wait_until
from sqlalchemy import select

from ledger.store import schema

pytestmark = pytest.mark.e2e


def rejected_dead_letter_id(stack: Stack, event_id: str) -> str:
    """The ``dead_letter_id`` of the ``event.rejected`` written for ``event_id``."""
    with stack.engine.connect() as connection:
        payloads = connection.execute(
            select(schema.outbox.c.payload).where(schema.outbox.c.type == "event.rejected")
        ).scalars()
        reports = [json.loads(each)["data"] for each in payloads]
    (report,) = [each for each in reports if each["event_id"] == event_id]
    dead_letter_id: str = report["dead_letter_id"]
    return dead_letter_id


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
    list`` says why a message was dead-lettered, under the id ``event.rejected`` gave
    it; ``residuo status`` shows the queues, the dead letters and the outbox, and
    ``residuo metrics`` serves the same figures to Prometheus; ``replay`` sends a dead
    letter back to its queue."""
    stuck = order_events(1)[0]
    worker = stack.start("worker", "worker")
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", worker)
    # A valid event dead-lettered as if it had run out of retries, by hand.
    stack.dead_letter(stuck, reason="retries_exhausted")
    bad = tmp_path / "bad.json"
    bad.write_text('{"specversion": "1.0", "id": "evt-bad", "type": "payment.received"}')
    published = stack.run("publish", str(bad))
    wait_until(lambda: stack.ready("residuo.events.XQ") == 2, "the dead letters", worker)

    listed = stack.run("dead-letters", "list", "--json")
    status = stack.run("status", "--json")
    scraped = scrape_metrics(stack, worker)
    replayed = stack.run("dead-letters", "replay", "evt-pay-MI00000", "--reason", "db was down")
    wait_until(lambda: stack.count(schema.orders) == 1, "the replayed payment", worker)
    worker.stop()

    assert published.returncode == 0, published.stderr
    assert "routing key payment.received" in published.stdout
    letters = {each["event_id"]: each for each in json.loads(listed.stdout)["dead_letters"]}
    assert letters["evt-bad"]["reason"] == "bad_schema"
    assert letters["evt-bad"]["queue"] == "residuo.events"
    assert json.loads(letters["evt-bad"]["body"])["id"] == "evt-bad"
    assert letters["evt-bad"]["dead_letter_id"] == rejected_dead_letter_id(stack, "evt-bad")
    assert letters["evt-pay-MI00000"]["reason"] == "retries_exhausted"
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    queues = {row["queue"]: row for row in document["queues"]}
    assert queues["residuo.events"]["consumers"] == 1
    dead = {row["queue"]: row for row in document["dead_letters"]}
    assert dead["residuo.events.XQ"] == {
        "queue": "residuo.events.XQ",
        "messages": 2,
        "resolved": 0,
        "unresolved": 2,
    }
    assert dead["residuo.sweeps.XQ"]["messages"] == 0
    assert document["outbox"][0]["unpublished"] == 1
    assert document["events"] == [{"parked": 0, "oldest_parked_age_seconds": None, "rejected": 1}]
    assert document["problems"] == {}
    assert scraped[("residuo_queue_consumers", ("residuo.events",))] == 1
    assert scraped[("residuo_dead_letters", ("residuo.events.XQ",))] == 2
    assert scraped[("residuo_dead_letters_resolved", ("residuo.events.XQ",))] == 0
    assert scraped[("residuo_dead_letters", ("residuo.sweeps.XQ",))] == 0
    assert scraped[("residuo_outbox_unpublished", ())] == 1
    assert scraped[("residuo_events_rejected_total", ())] == 1
    assert {labels for name, labels in scraped if name == "residuo_status_up"} == {
        (key,) for key in ("queues", "dead_letters", "outbox", "events", "sweeps")
    }
    assert all(value == 1 for (name, _), value in scraped.items() if name == "residuo_status_up")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 dead letters to residuo.events" in replayed.stdout
    (audit,) = stack.dispositions()
    assert (audit["action"], audit["event_id"], audit["operator_reason"]) == (
        "replayed",
        "evt-pay-MI00000",
        "db was down",
    )


def test_dead_letters_have_one_id_bounce_back_only_when_forced_and_clear_when_resolved(
    stack: Stack,
) -> None:
    """A body that is not JSON is named by one id in ``event.rejected``, ``list`` and
    ``replay``; replaying it is refused (it would only bounce back) unless forced. An
    invalid event whose correction is applied later is resolved: ``status`` and the
    metric stop counting it, so an alert on ``residuo_dead_letters > 0`` clears, and
    ``archive --resolved`` takes it out of the queue with an audit record, as ``drop``
    does the garbage."""
    relay = stack.start("relay", "relay")
    worker = stack.start("worker", "worker")
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", worker, relay)
    valid = json.loads(order_events(1)[0])
    invalid = valid | {"data": valid["data"] | {"amount": "10.001"}}
    stack.publish_raw(b"not json at all", "payment.received")
    stack.publish_raw(json.dumps(invalid).encode(), "payment.received")
    wait_until(lambda: stack.ready("residuo.events.XQ") == 2, "the dead letters", worker, relay)
    wait_until(lambda: stack.ready("residuo.notifications") == 2, "the reports", worker, relay)
    rejected = stack.notifications(
        lambda taken: sum(each["type"] == "event.rejected" for each in taken) == 2
    )
    garbage = next(each["data"] for each in rejected if each["data"]["reason"] == "bad_json")

    listed = stack.run("dead-letters", "list", "--json")
    refused = stack.run("dead-letters", "replay", garbage["dead_letter_id"])
    forced = stack.run("dead-letters", "replay", "--force", garbage["dead_letter_id"])
    wait_until(lambda: stack.ready("residuo.events.XQ") == 2, "the bounce", worker, relay)
    stack.publish_raw(json.dumps(valid).encode(), "payment.received")
    wait_until(lambda: stack.count(schema.orders) == 1, "the correction", worker, relay)
    status = stack.run("status", "--json")
    scraped = scrape_metrics(stack, worker, relay)
    no_reason = stack.run("dead-letters", "drop", garbage["dead_letter_id"])
    archived = stack.run("dead-letters", "archive", "--resolved", "--reason", "fixed upstream")
    dropped = stack.run(
        "dead-letters", "drop", garbage["dead_letter_id"], "--reason", "load-test garbage"
    )
    remaining = stack.ready("residuo.events.XQ")
    worker.stop()
    relay.stop()

    assert garbage["event_id"] == garbage["dead_letter_id"]
    assert garbage["dead_letter_id"].startswith("sha256:")
    ids = [each["dead_letter_id"] for each in json.loads(listed.stdout)["dead_letters"]]
    assert garbage["dead_letter_id"] in ids
    assert refused.returncode == 1
    assert "still invalid: bad_json" in refused.stderr
    assert "replayed 0 dead letters" in refused.stdout
    assert forced.returncode == 0, forced.stderr
    assert "replayed 1 dead letters" in forced.stdout
    dead_letters = json.loads(status.stdout)["dead_letters"]
    (dead,) = [each for each in dead_letters if each["queue"] == "residuo.events.XQ"]
    assert (dead["messages"], dead["resolved"], dead["unresolved"]) == (2, 1, 1)
    assert scraped[("residuo_dead_letters", ("residuo.events.XQ",))] == 1
    assert scraped[("residuo_dead_letters_resolved", ("residuo.events.XQ",))] == 1
    assert no_reason.returncode == 2
    assert archived.returncode == 0, archived.stderr
    assert dropped.returncode == 0, dropped.stderr
    assert remaining == 0
    actions = [
        (each["action"], each["event_id"], each["operator_reason"]) for each in stack.dispositions()
    ]
    assert actions == [
        ("replayed", None, None),
        ("archived", valid["id"], "fixed upstream"),
        ("dropped", None, "load-test garbage"),
    ]
    (archive,) = [each for each in stack.dispositions() if each["action"] == "archived"]
    assert json.loads(archive["body"]) == invalid
