"""The RabbitMQ pieces without a broker: connection defaults, raw ingress decoding,
what a dead letter carries, retries that never lose a message, settling on the right
channel, and replayed messages starting afresh."""

import json
from typing import Any

import pika
import pytest
from dramatiq import Actor, Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import ConnectionClosed

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from messages import body_id
from workers.actors import EVENTS_QUEUE, SWEEPS_QUEUE, Actors, declare_actors
from workers.broker import create_broker
from workers.ingress import open_raw_ingress
from workers.middleware import DEAD_LETTER_OPTION, REFUSED_AT_INGRESS_OPTION, RejectInvalidEvents
from workers.rabbitmq.broker import ResiduoRabbitmqBroker, Unusable
from workers.rabbitmq.consumer import Delivery, ResiduoConsumer
from workers.rabbitmq.dead_letter_queue import _fresh_body
from workers.rabbitmq.dead_letters import dead_letter_of
from workers.rabbitmq.properties import UnreadableHeadersProperties
from workers.rabbitmq.topology import connection_parameters
from workers.retries import DurableRetries

EVENT = {"specversion": "1.0", "id": "evt-1", "type": "payment.received", "data": {}}


def ledger() -> Ledger:
    # The engine never connects: nothing here reaches the books.
    return Ledger(create_database_engine("sqlite://"), Policy())


@pytest.fixture
def wired() -> tuple[ResiduoRabbitmqBroker, Actors]:
    books = ledger()
    broker = create_broker(
        "amqp://guest:guest@127.0.0.1:1/", middleware=[RejectInvalidEvents(ledger=books)]
    )
    assert isinstance(broker, ResiduoRabbitmqBroker)
    actors = declare_actors(broker, books)
    open_raw_ingress(broker, actors)
    return broker, actors


def decoded(
    broker: ResiduoRabbitmqBroker,
    queue_name: str,
    body: bytes,
    properties: Any = None,
    *,
    exchange: str = "",
) -> Message[Any]:
    """What ``queue_name``'s consumer receives for ``body``, which must be a message."""
    message = broker.decode(queue_name, body, properties, exchange=exchange)
    assert isinstance(message, Message), message
    return message


def test_connections_get_heartbeats_unless_the_url_says_otherwise() -> None:
    """Heartbeats and a blocked-connection timeout by default; the URL's own win."""
    default, tuned = connection_parameters(
        "amqp://guest:guest@a:5672/%2F;amqp://guest:guest@b:5672/%2F?heartbeat=5"
    )

    assert (default.heartbeat, default.blocked_connection_timeout) == (30, 60)
    assert (tuned.host, tuned.heartbeat) == ("b", 5)


def test_a_dramatiq_message_is_decoded_as_it_was_sent(
    wired: tuple[ResiduoRabbitmqBroker, Actors],
) -> None:
    """Dramatiq's own messages pass through untouched, on any queue."""
    broker, actors = wired
    message = actors.by_sweep_kind["expiry"].message("2026-01-10T00:00:00+01:00", None)

    assert broker.decode(SWEEPS_QUEUE, message.encode()) == message


def test_a_raw_event_becomes_a_message_for_its_actor_with_an_id_from_the_event(
    wired: tuple[ResiduoRabbitmqBroker, Actors],
) -> None:
    """On the events queue a plain CloudEvent is routed to its actor; the same event
    always gets the same message id, whatever its whitespace, another event another."""
    broker, _ = wired
    body = json.dumps(EVENT).encode()

    first, again = decoded(broker, EVENTS_QUEUE, body), decoded(broker, EVENTS_QUEUE, body + b" ")
    other = decoded(broker, EVENTS_QUEUE, json.dumps(EVENT | {"id": "evt-other"}).encode())

    assert (first.actor_name, first.queue_name, first.args) == (
        "payment_received",
        EVENTS_QUEUE,
        (EVENT,),
    )
    assert first.message_id == again.message_id != other.message_id


def test_an_event_in_binary_content_mode_becomes_its_structured_event(
    wired: tuple[ResiduoRabbitmqBroker, Actors],
) -> None:
    """Binary mode (CloudEvents AMQP binding): attributes in ``cloudEvents_*`` headers,
    with their AMQP types, the data as the body, ``content_type`` as
    ``datacontenttype``; the actor gets the structured event it stands for."""
    broker, _ = wired
    attributes = {k: v for k, v in EVENT.items() if k != "data"}
    headers: dict[str, Any] = {f"cloudEvents_{name}": value for name, value in attributes.items()}
    headers |= {"cloudEvents_sequence": 7, "x-other": "kept out"}
    properties = pika.BasicProperties(content_type="application/json", headers=headers)

    message = decoded(broker, EVENTS_QUEUE, json.dumps(EVENT["data"]).encode(), properties)

    assert message.actor_name == "payment_received"
    assert message.args == (EVENT | {"datacontenttype": "application/json", "sequence": 7},)


def test_a_raw_body_on_a_queue_without_ingress_is_not_a_message(
    wired: tuple[ResiduoRabbitmqBroker, Actors],
) -> None:
    """The sweeps queue takes Dramatiq messages only: anything else its consumer
    dead-letters as ``not_a_message``."""
    broker, _ = wired

    assert broker.decode(SWEEPS_QUEUE, json.dumps(EVENT).encode()) == Unusable(
        "not_a_message", "residuo.sweeps takes Dramatiq messages only"
    )


def envelope(actor_name: str, *, queue_name: str = EVENTS_QUEUE, **fields: Any) -> bytes:
    """A body shaped like a Dramatiq message, as anyone may write one."""
    message = {
        "queue_name": queue_name,
        "actor_name": actor_name,
        "args": [],
        "kwargs": {},
        "options": {},
        "message_id": "m-forged",
        "message_timestamp": 0,
    }
    return json.dumps(message | fields).encode()


@pytest.mark.parametrize(
    "body",
    [
        envelope("sweep_expiry", args=["2030-01-01T00:00:00+01:00"]),
        envelope("payment_received", kwargs={"event": EVENT}),
        envelope("payment_received", args=[EVENT], options={"eta": 10**15}),
    ],
    ids=["a sweep", "an event in kwargs", "a far eta"],
)
def test_whatever_comes_through_the_events_exchange_is_an_upstream_event(
    wired: tuple[ResiduoRabbitmqBroker, Actors], body: bytes
) -> None:
    """A body published to ``residuo.events`` is an event, even shaped like a Dramatiq
    message: it names no actor, no arguments, no options of its own; here it has no
    ``type``, so it goes to the unroutable-event actor, as the bytes received, to be
    refused and reported."""
    broker, _ = wired

    message = decoded(broker, EVENTS_QUEUE, body, exchange="residuo.events")

    assert message.actor_name == "unroutable_event"
    assert message.args == (body.decode(),)
    assert (message.kwargs, message.options) == ({}, {})


@pytest.mark.parametrize(
    ("body", "reason", "detail"),
    [
        (
            envelope("sweep_expiry", args=["2030-01-01T00:00:00+01:00", None]),
            "wrong_queue",
            "sweep_expiry takes its messages from residuo.sweeps, not from residuo.events",
        ),
        (envelope("no_such_actor"), "not_a_message", "no actor is named 'no_such_actor'"),
        (
            envelope("payment_received", kwargs={"event": EVENT}),
            "not_a_message",
            "payment_received takes one inbound event, as its only argument",
        ),
        (
            envelope("payment_received", args=[EVENT, EVENT]),
            "not_a_message",
            "payment_received takes one inbound event, as its only argument",
        ),
    ],
    ids=["an actor of another queue", "no such actor", "kwargs", "two arguments"],
)
def test_a_dramatiq_message_must_be_one_its_queue_can_run(
    wired: tuple[ResiduoRabbitmqBroker, Actors], body: bytes, reason: str, detail: str
) -> None:
    """Through the default exchange (residuo's own way in), a Dramatiq message must name
    an actor of the queue it arrived on, and an inbound event's actor gets the event as
    its one argument (``RejectInvalidEvents`` bounds that one): anything else is
    dead-lettered as it came."""
    broker, _ = wired

    assert broker.decode(EVENTS_QUEUE, body) == Unusable(reason, detail)


def test_a_message_whose_headers_could_not_be_read_is_refused_unapplied(
    wired: tuple[ResiduoRabbitmqBroker, Actors],
) -> None:
    """Without its headers a body may be a structured event or a binary one's data:
    it is refused (``bad_headers``), under the event id its body has, not applied."""
    broker, _ = wired
    properties = UnreadableHeadersProperties(content_type="application/json")
    properties.unreadable_headers = "RecursionError: maximum recursion depth exceeded"

    message = decoded(
        broker, EVENTS_QUEUE, json.dumps(EVENT).encode(), properties, exchange="residuo.events"
    )

    assert message.actor_name == "unroutable_event"
    assert message.args == (EVENT,)
    refused = message.options[REFUSED_AT_INGRESS_OPTION]
    assert (refused["reason"], refused["event_id"]) == ("bad_headers", "evt-1")
    assert "RecursionError" in refused["detail"]


def test_a_content_type_that_is_not_text_is_refused_with_the_headers(
    wired: tuple[ResiduoRabbitmqBroker, Actors],
) -> None:
    """pika hands over a content type that is not UTF-8 as bytes: refused, never a
    crash of the consumer that compared it with a string."""
    broker, _ = wired
    properties = pika.BasicProperties(content_type=b"application/\xffjson")

    message = decoded(broker, EVENTS_QUEUE, json.dumps(EVENT).encode(), properties)

    assert message.options[REFUSED_AT_INGRESS_OPTION]["reason"] == "bad_headers"


def test_a_body_ingress_fails_to_route_is_set_aside_not_fatal() -> None:
    """A router that raises (a bug) would crash the consumer, which would get the same
    body again, forever: the body is dead-lettered as a processing error instead."""
    broker = create_broker("amqp://guest:guest@127.0.0.1:1/")
    assert isinstance(broker, ResiduoRabbitmqBroker)

    def broken(body: bytes, properties: Any) -> Message[Any]:
        raise KeyError("a bug")

    broker.accept_raw_bodies(EVENTS_QUEUE, broken)

    assert broker.decode(EVENTS_QUEUE, b"{}") == Unusable("processing_error", "KeyError: 'a bug'")


def test_a_rejected_event_is_dead_lettered_as_the_event_with_its_reason(
    wired: tuple[ResiduoRabbitmqBroker, Actors],
) -> None:
    """The dead letter of an invalid event is the CloudEvent itself (canonical JSON),
    with the rejection's reason, detail, event id and type in its headers."""
    broker, actors = wired
    proxy = MessageProxy(actors.by_event_type["payment.received"].message(EVENT))
    proxy.options["rejection"] = {
        "reason": "bad_schema",
        "detail": "data.order_id: required field is missing",
        "event_id": "evt-1",
        "event_type": "payment.received",
    }

    body, properties = dead_letter_of(broker, proxy)

    assert json.loads(body) == EVENT
    assert properties.delivery_mode == 2
    assert properties.message_id == proxy.message_id
    headers = properties.headers
    assert headers["x-residuo-reason"] == "bad_schema"
    assert headers["x-residuo-detail"] == "data.order_id: required field is missing"
    assert headers["x-residuo-event-id"] == "evt-1"
    assert headers["x-residuo-queue"] == EVENTS_QUEUE
    assert headers["x-residuo-actor"] == "payment_received"
    assert headers["x-residuo-dead-letter-id"] == body_id(body)


def test_a_dead_letter_header_escapes_what_is_not_unicode(
    wired: tuple[ResiduoRabbitmqBroker, Actors],
) -> None:
    """An id pika could not encode (a lone surrogate) goes in the headers escaped, so
    the dead letter can be published at all."""
    broker, actors = wired
    event = {**EVENT, "id": "evt-\ud800"}
    proxy = MessageProxy(actors.by_event_type["payment.received"].message(event))
    proxy.options[DEAD_LETTER_OPTION] = {"reason": "retries_exhausted", "detail": "x\udcff"}

    body, properties = dead_letter_of(broker, proxy)

    assert json.loads(body) == event
    assert properties.headers["x-residuo-event-id"] == "evt-\\ud800"
    assert properties.headers["x-residuo-detail"] == "x\\udcff"
    properties.encode()  # what pika does when publishing: no UnicodeEncodeError


def test_any_other_failure_is_dead_lettered_as_the_message_with_the_error(
    wired: tuple[ResiduoRabbitmqBroker, Actors],
) -> None:
    """A sweep that failed for good keeps its Dramatiq form, and says what failed."""
    broker, actors = wired
    proxy = MessageProxy(actors.by_sweep_kind["expiry"].message("not a time", None))
    proxy.stuff_exception(ValueError("as_of 'not a time' is not an ISO 8601 timestamp"))

    body, properties = dead_letter_of(broker, proxy)

    assert Message.decode(body) == proxy._message
    assert properties.headers["x-residuo-reason"] == "failed"
    assert properties.headers["x-residuo-detail"].startswith("ValueError: as_of")
    assert "x-residuo-event-id" not in properties.headers


class RefusingBroker(StubBroker):
    """A broker that cannot take the retry copy of a message."""

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        # DramatiqError.__init__ is unannotated.
        raise ConnectionClosed(OSError("broker unreachable"))  # type: ignore[no-untyped-call]


def failed_message(broker: StubBroker, retries: DurableRetries) -> MessageProxy:
    """A message whose actor just raised, after ``retries`` had its say."""

    def flaky() -> None:
        raise ConnectionError("database unreachable")

    broker.add_middleware(retries)
    actor: Actor[[], None] = Actor(
        flaky, broker=broker, actor_name="flaky", queue_name="q", priority=0, options={}
    )
    proxy = MessageProxy(actor.message())
    retries.after_process_message(broker, proxy, exception=ConnectionError("database down"))
    return proxy


def test_a_retry_that_cannot_be_enqueued_fails_the_message_instead_of_losing_it() -> None:
    """Dramatiq would ack the original (PR #545): here it is failed, so dead-lettered,
    with the reason ``retry_not_enqueued`` and both errors."""
    proxy = failed_message(RefusingBroker(middleware=[]), DurableRetries(max_retries=5))

    assert proxy.failed
    dead_letter = proxy.options[DEAD_LETTER_OPTION]
    assert dead_letter["reason"] == "retry_not_enqueued"
    assert "database down" in dead_letter["detail"]
    assert "broker unreachable" in dead_letter["detail"]


def test_a_message_out_of_retries_says_so() -> None:
    """Exhausted retries are dead-lettered with ``retries_exhausted`` and the error."""
    proxy = failed_message(StubBroker(middleware=[]), DurableRetries(max_retries=0))

    assert proxy.failed
    assert proxy.options[DEAD_LETTER_OPTION] == {
        "reason": "retries_exhausted",
        "detail": "ConnectionError: database down",
    }


def test_a_message_retried_is_not_failed() -> None:
    """While retries remain, the retry copy is enqueued and the original is acked."""
    proxy = failed_message(StubBroker(middleware=[]), DurableRetries(max_retries=5))

    assert not proxy.failed
    assert DEAD_LETTER_OPTION not in proxy.options


class RecordingConsumer(ResiduoConsumer):
    """A consumer with no connection, recording the tags it would acknowledge."""

    def __init__(self) -> None:
        self.known_tags: set[int] = set()
        self.acked: list[int] = []

    def deliver(self, tag: int) -> Delivery:
        self.known_tags.add(tag)
        message: Message[None] = Message(EVENTS_QUEUE, "payment_received", (EVENT,), {}, {})
        return Delivery(message, tag=tag, redelivered=False, consumer=self)


@pytest.fixture
def consumers(monkeypatch: pytest.MonkeyPatch) -> tuple[RecordingConsumer, RecordingConsumer]:
    # Dramatiq's own ack, minus the channel: it forgets the tag and records it.
    def ack(consumer: RecordingConsumer, message: Delivery) -> None:
        consumer.known_tags.remove(message._tag)
        consumer.acked.append(message._tag)

    monkeypatch.setattr("dramatiq.brokers.rabbitmq._RabbitmqConsumer.ack", ack)
    return RecordingConsumer(), RecordingConsumer()


def test_a_message_is_acked_only_by_the_consumer_that_received_it(
    consumers: tuple[RecordingConsumer, RecordingConsumer],
) -> None:
    """After a reconnect the new channel numbers its deliveries from 1 again: a message
    received on the old channel must not ack the new channel's message of the same
    tag. It is left to RabbitMQ, which redelivers it."""
    old, new = consumers
    stale = old.deliver(1)
    fresh = new.deliver(1)

    new.ack(stale)
    new.ack(fresh)

    assert new.acked == [1]
    assert new.known_tags == set()


def test_a_replayed_dramatiq_message_starts_afresh_on_its_queue() -> None:
    """Retry bookkeeping is dropped and a message that failed from a delay queue
    names the queue it is replayed to; an event body is replayed byte for byte."""
    failed: Message[None] = Message(
        f"{SWEEPS_QUEUE}.DQ",
        "sweep_expiry",
        ("2026-01-10T00:00:00+01:00",),
        {},
        {"retries": 20, "traceback": "…", "eta": 1, "dead_letter": {}, "max_retries": 3},
    )
    event = json.dumps(EVENT).encode()

    fresh = Message.decode(_fresh_body(failed.encode(), SWEEPS_QUEUE))

    assert fresh.queue_name == SWEEPS_QUEUE
    assert fresh.options == {"max_retries": 3}
    assert (fresh.message_id, fresh.args) == (failed.message_id, failed.args)
    assert _fresh_body(event, EVENTS_QUEUE) == event
