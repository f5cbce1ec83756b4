"""Ingress: a raw body finds the actor of its CloudEvents type, or the unroutable one."""

import json

import pytest
from dramatiq.brokers.stub import StubBroker

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from workers.actors import EVENTS_QUEUE, Actors, declare_actors
from workers.ingress import route
from workers.middleware import RejectInvalidEvents


@pytest.fixture
def actors() -> Actors:
    # The engine never connects: routing does no I/O.
    ledger = Ledger(create_database_engine("sqlite://"), Policy())
    broker = StubBroker(middleware=[RejectInvalidEvents(ledger=ledger)])
    return declare_actors(broker, ledger)


@pytest.mark.parametrize(
    ("event_type", "actor_name"),
    [
        ("payment.received", "payment_received"),
        ("activation.completed", "activation_completed"),
        ("activation.failed", "activation_failed"),
        ("credit.requested", "credit_requested"),
    ],
)
def test_a_known_type_goes_to_its_own_actor(
    actors: Actors, event_type: str, actor_name: str
) -> None:
    """Each inbound type has its actor, which receives the decoded CloudEvent object."""
    event = {"specversion": "1.0", "id": "evt-1", "type": event_type, "data": {}}

    message = route(json.dumps(event).encode(), actors)

    assert message.actor_name == actor_name
    assert message.queue_name == EVENTS_QUEUE
    assert message.args == (event,)


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"id": "evt-1", "type": "order.shipped"}',
        b'{"id": "evt-1"}',
        b'{"id": "evt-1", "type": 42}',
        b'{"type": "payment.received", "amount": "\xff"}',
    ],
)
def test_a_body_naming_no_known_type_goes_to_the_unroutable_actor(
    actors: Actors, body: bytes
) -> None:
    """Bad JSON, non-objects and unknown types share the one rejection path."""
    message = route(body, actors)

    assert message.actor_name == actors.unroutable.actor_name
    assert message.queue_name == EVENTS_QUEUE


def test_an_unroutable_body_travels_byte_for_byte(actors: Actors) -> None:
    """Even bytes that are not UTF-8 survive the trip, so the report hashes what arrived."""
    body = b'{"type": "x", "note": "caf\xe9"}'

    message = route(body, actors)

    (text,) = message.args
    assert text.encode("utf-8", errors="surrogateescape") == body


@pytest.mark.parametrize(
    "body",
    [b'{"a":' * 10_000 + b"{}" + b"}" * 10_000, b"[" * 10_000 + b"]" * 10_000],
    ids=["objects", "arrays"],
)
def test_a_body_nested_ten_thousand_deep_goes_to_the_unroutable_actor(
    actors: Actors, body: bytes
) -> None:
    """Routing survives what would exhaust a decoder's recursion, and keeps the bytes."""
    message = route(body, actors)

    assert message.actor_name == "unroutable_event"
    assert message.args == (body.decode(),)


def test_a_body_over_the_size_limit_goes_to_the_unroutable_actor_undecoded(
    actors: Actors,
) -> None:
    """A valid event, but larger than the limit: not decoded, not routed by its type."""
    event = json.dumps({"id": "evt-1", "type": "payment.received", "pad": "x" * 100}).encode()

    message = route(event, actors, max_body_bytes=len(event) - 1)

    assert message.actor_name == "unroutable_event"
    assert message.args == (event.decode(),)
