"""attack9: the ``residuo.events`` exchange is where upstream publishes raw CloudEvents,
but a body that happens to decode as a *Dramatiq message* is taken as one
(``ResiduoRabbitmqBroker.decode`` tries ``Message.decode`` first). ``RejectInvalidEvents``
checks ``message.args[0]`` only, so an event carried in ``kwargs`` is never bounded:
a payment dated 1970, outside the plausible window every inbound instant must fit
(``implausible_timestamp``), is booked.

Worse, the envelope's ``options`` are the sender's: an ``eta`` far in the future makes
the worker's consumer hold the message unacknowledged in memory until then. Four such
messages (the prefetch of a two-thread worker; eight for the default four threads)
take every prefetch slot of ``residuo.events``: nothing published after them is
ever delivered, nothing is dead-lettered, ops hear nothing.

Expected: an upstream body is an event, whatever it looks like; one that is not
(or whose event is out of bounds) is dead-lettered and reported, never booked, and
never parked in a worker's memory.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from integration.test_poison_rabbitmq import payment, pipeline  # noqa: F401 - the fixture
from integration.test_rabbitmq_pipeline import Pipeline, wait_until

from ledger.store import schema

pytestmark = pytest.mark.reliability


def implausible_payment() -> dict[str, object]:
    event = payment(7)
    event["time"] = "1970-01-01T00:00:00+00:00"
    event["data"]["paid_at"] = "1970-01-01T00:00:00+00:00"
    return event


def envelope(**fields: Any) -> str:
    message = {
        "queue_name": "residuo.events",
        "actor_name": "payment_received",
        "args": [],
        "kwargs": {},
        "options": {},
        "message_id": str(uuid.uuid4()),
        "message_timestamp": 0,
    }
    return json.dumps(message | fields)


def test_attack9_an_event_in_a_forged_dramatiq_envelope_is_not_booked_unchecked(
    pipeline: Pipeline,  # noqa: F811 - the fixture
) -> None:
    pipeline.publish(envelope(kwargs={"event": implausible_payment()}), "payment.received")
    pipeline.publish(json.dumps(payment(8)), "payment.received")

    wait_until(
        lambda: pipeline.count(schema.inbox, schema.inbox.c.event_id == "evt-pay-8") == 1,
        "the payment published after it",
    )
    assert pipeline.count(schema.orders, schema.orders.c.order_id == "MI0007") == 0


def test_attack9_forged_envelopes_due_in_the_far_future_do_not_stall_the_events_queue(
    pipeline: Pipeline,  # noqa: F811 - the fixture
) -> None:
    for number in range(1, 5):
        far_future = {"eta": 10**15}  # milliseconds: year 33658
        pipeline.publish(envelope(args=[payment(number)], options=far_future), "payment.received")
    for number in range(11, 31):
        pipeline.publish(json.dumps(payment(number)), "payment.received")

    wait_until(lambda: pipeline.count(schema.orders) >= 20, "the 20 payments published after")
