"""Ingress: a raw body finds the actor of its CloudEvents type, or the unroutable one."""

import json

import pytest
from dramatiq.brokers.stub import StubBroker

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from workers.actors import EVENTS_QUEUE, Actors, declare_actors
from workers.ingress import route
from workers.middleware import REFUSED_AT_INGRESS_OPTION, RejectInvalidEvents, body_bytes


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


def test_a_binary_mode_event_is_counted_as_the_structured_event_it_travels_on_as(
    actors: Actors,
) -> None:
    """Its body within the limit, but with its attributes over it: refused at receipt
    as ``body_too_large``, naming its id and type (they are in the headers), since its
    dead letter and any replay carry the structured form. At the limit exactly, it is
    routed to its actor."""
    headers = {
        "cloudEvents_specversion": "1.0",
        "cloudEvents_id": "evt-bin-1",
        "cloudEvents_source": "billing",
        "cloudEvents_type": "payment.received",
        "cloudEvents_time": "2026-01-10T09:30:00+01:00",
    }
    data = json.dumps({"order_id": "MI0001", "pad": "x" * 100}, separators=(",", ":")).encode()
    binary = route(data, actors, headers=headers, content_type="application/json")
    size = len(body_bytes(binary.args[0]))

    refused = route(
        data, actors, headers=headers, content_type="application/json", max_body_bytes=size - 1
    )
    at_limit = route(
        data, actors, headers=headers, content_type="application/json", max_body_bytes=size
    )

    assert len(data) < size - 1
    assert refused.actor_name == "unroutable_event"
    judged = refused.options[REFUSED_AT_INGRESS_OPTION]
    assert (judged["reason"], judged["event_id"], judged["event_type"]) == (
        "body_too_large",
        "evt-bin-1",
        "payment.received",
    )
    assert at_limit.actor_name == "payment_received"
