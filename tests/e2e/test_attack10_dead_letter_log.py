"""Attack on issue 10 as an operator at 3 a.m., with residuo's own processes on real
PostgreSQL and RabbitMQ: following a dead letter from `dead-letters list` to the log.

Fails on the code it was written against; the docstring says what was observed and
what is expected."""

from __future__ import annotations

import json

import pytest
from e2e.stack import Stack, wait_until

from messages import body_id

pytestmark = pytest.mark.e2e


def test_attack10_a_dead_letter_is_found_in_the_log_by_its_one_id(stack: Stack) -> None:
    """docs/observability.md: `grep evt-0001` tells an event's whole story; issue 10:
    "one id per dead letter everywhere". A body without a readable event id (not
    JSON) is known to `event.rejected`, `dead-letters list`, `replay`, `drop` and
    `archive` only as `sha256:<hex>`.

    Observed: no worker log line carries that id: `event received`, `event rejected`
    (`rejected_event_id: null`) and `message dead-lettered` (`event_id: null`) name
    only the raw message's UUID, which `dead-letters list` does not show, so nothing
    leads from the dead letter to its lines. Lines of a dead letter that has an event
    id lack the dead-letter id too. Expected: `event rejected` and `message
    dead-lettered` carry `dead_letter_id`."""
    worker = stack.start("worker", "worker")
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", worker)
    garbage = b"hello world, not an event"

    stack.publish_raw(garbage, "payment.received")
    wait_until(lambda: stack.ready("residuo.events.XQ") == 1, "the dead letter", worker)
    listed = stack.run("dead-letters", "list", "--json")
    assert worker.stop() == 0, worker.tail()

    (letter,) = json.loads(listed.stdout)["dead_letters"]
    assert letter["dead_letter_id"] == body_id(garbage)
    mentions = [line for line in worker.log_lines() if body_id(garbage) in json.dumps(line)]
    assert {line["event"] for line in mentions} >= {"event rejected", "message dead-lettered"}


def test_an_invalid_event_rejected_is_logged_with_its_type(stack: Stack) -> None:
    """docs/observability.md: every line of an event's life carries ``event_type``, so
    ops can count rejections by type from the logs. A ``payment.received`` refused for
    a negative amount: ``event rejected`` names its id, its type and its dead letter."""
    worker = stack.start("worker", "worker")
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", worker)
    body = {
        "specversion": "1.0",
        "id": "evt-neg-1",
        "source": "billing",
        "type": "payment.received",
        "time": "2026-01-05T10:00:00+01:00",
        "data": {
            "order_id": "MI0001",
            "customer_id": "1234567@aruba.it",
            "service": "hosting",
            "amount": "-10.00",
            "currency": "EUR",
            "paid_at": "2026-01-05T10:00:00+01:00",
            "method": "card",
        },
    }
    raw = json.dumps(body).encode()

    stack.publish_raw(raw, "payment.received")
    wait_until(lambda: stack.ready("residuo.events.XQ") == 1, "the dead letter", worker)
    listed = stack.run("dead-letters", "list", "--json")
    assert worker.stop() == 0, worker.tail()

    (letter,) = json.loads(listed.stdout)["dead_letters"]
    (rejected,) = [line for line in worker.log_lines() if line["event"] == "event rejected"]
    assert (rejected["rejected_event_id"], rejected["event_type"]) == (
        "evt-neg-1",
        "payment.received",
    )
    assert rejected["dead_letter_id"] == letter["dead_letter_id"]
