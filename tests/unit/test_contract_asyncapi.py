"""The checked-in AsyncAPI document (docs/contract/asyncapi.json) describes both content
modes of every inbound event, and the dead-letter queue of every work queue, as
residuo reads and writes them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from dramatiq.broker import MessageProxy
from dramatiq.common import q_name
from jsonschema import Draft202012Validator

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from messages import INBOUND_TYPES, InvalidEvent, parse_inbound
from messages.amqp_binding import structured_event
from residuo.bootstrap import bootstrap
from residuo.contract import asyncapi_document
from residuo.settings import Settings
from workers.actors import EVENTS_QUEUE, SWEEPS_QUEUE, Actors, declare_actors
from workers.broker import create_broker
from workers.middleware import DEAD_LETTER_OPTION, RejectInvalidEvents
from workers.rabbitmq.broker import ResiduoRabbitmqBroker
from workers.rabbitmq.dead_letters import dead_letter_of
from workers.rabbitmq.topology import EVENTS_EXCHANGE

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = ROOT / "docs" / "contract" / "asyncapi.json"
DEMO = ROOT / "residuo" / "scenarios" / "demo.jsonl"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@cache
def document() -> dict[str, Any]:
    return dict(json.loads(ASYNCAPI.read_text(encoding="utf-8")))


def validator(message: str, part: str) -> Draft202012Validator:
    """The schema of one message's ``headers`` or ``payload`` in the checked-in
    document, its references resolved within the document."""
    schema = document()["components"]["messages"][message][part]
    return Draft202012Validator({**document(), **schema})


def channel_at(address: str, kind: str) -> tuple[str, dict[str, Any]]:
    """The channel (name, body) of the exchange (``kind`` "routingKey") or the queue
    ("queue") named ``address``: exactly one."""
    (found,) = [
        (name, body)
        for name, body in document()["channels"].items()
        if body["address"] == address and body["bindings"]["amqp"]["is"] == kind
    ]
    return found


def binary_mode(event: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The headers and body a publisher in binary content mode sends for ``event``."""
    headers = {f"cloudEvents_{name}": value for name, value in event.items() if name != "data"}
    return headers, json.dumps(event["data"]).encode()


def residuo_accepts(event: dict[str, Any]) -> bool:
    try:
        parse_inbound(event)
    except InvalidEvent:
        return False
    return True


def described_in_binary_mode(event_type: str, event: dict[str, Any]) -> bool:
    """Whether ``event`` sent in binary mode passes ``<event_type>.binary``'s headers
    and payload schemas; asserts residuo's verdict on it is the same."""
    headers, body = binary_mode(event)
    structured = structured_event(headers, "application/json", body)
    assert structured is not None
    described = validator(f"{event_type}.binary", "headers").is_valid(headers) and validator(
        f"{event_type}.binary", "payload"
    ).is_valid(json.loads(body))
    assert described == residuo_accepts(structured), (event_type, event)
    return described


def demo_event(event_type: str) -> dict[str, Any]:
    """The first event of ``event_type`` in the bundled demo that residuo accepts."""
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        event = json.loads(line) if line.strip() else {}
        if event.get("type") == event_type and residuo_accepts(event):
            return dict(event)
    raise AssertionError(f"the demo has no valid {event_type}")


@pytest.mark.parametrize("event_type", INBOUND_TYPES)
def test_each_inbound_event_is_received_in_binary_mode_on_the_events_channels(
    event_type: str,
) -> None:
    """`<type>.binary` is a message of the events exchange and of the queue the workers
    consume, and of the receive operation, routed by the event type; its headers
    require the attributes residuo requires, under their cloudEvents_ names."""
    binary = f"{event_type}.binary"
    message = document()["components"]["messages"][binary]
    reference = {"$ref": f"#/components/messages/{binary}"}
    operation = document()["operations"]["receiveEvent"]

    for address, kind in ((EVENTS_EXCHANGE, "routingKey"), (EVENTS_QUEUE, "queue")):
        (_, channel) = channel_at(address, kind)
        assert channel["messages"][binary] == reference, kind
    (exchange, _) = channel_at(EVENTS_EXCHANGE, "routingKey")
    assert operation["channel"] == {"$ref": f"#/channels/{exchange}"}
    assert {"$ref": f"#/channels/{exchange}/messages/{binary}"} in operation["messages"]
    assert message["bindings"]["amqp"]["messageType"] == event_type
    assert set(message["headers"]["required"]) == {
        f"cloudEvents_{each}" for each in ("specversion", "id", "source", "type", "time")
    }
    assert message["headers"]["properties"]["cloudEvents_type"]["const"] == event_type


@pytest.mark.parametrize("event_type", INBOUND_TYPES)
def test_the_demo_event_of_each_type_in_binary_mode_is_described_as_residuo_judges_it(
    event_type: str,
) -> None:
    """The demo's event of each type, sent in binary mode, passes its binary message;
    altered (a traceparent added, an id with a control character, a blank source, no
    time, an extension header in capitals, an unknown data field) it passes exactly
    when residuo accepts it."""
    event = demo_event(event_type)
    without_time = {name: value for name, value in event.items() if name != "time"}

    assert described_in_binary_mode(event_type, event)
    assert described_in_binary_mode(event_type, event | {"traceparent": TRACEPARENT})
    for altered in (
        event | {"id": "evt-\x07"},
        event | {"source": "\u3000"},
        without_time,
        event | {"Sequence": 1},
        event | {"data": event["data"] | {"colour": "red"}},
    ):
        assert not described_in_binary_mode(event_type, altered)


PAYMENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "billing",
    "type": "payment.received",
    "time": "2026-01-10T09:30:00+01:00",
    "data": {
        "order_id": "MI0001",
        "customer_id": "1234567@aruba.it",
        "service": "spid",
        "amount": "49.90",
        "currency": "EUR",
        "paid_at": "2026-01-10T09:30:00+01:00",
        "method": "card",
        "reference": None,
    },
}


@pytest.mark.parametrize(
    ("case", "event", "accepted"),
    [
        ("valid", PAYMENT, True),
        ("with an extension", PAYMENT | {"traceparent": TRACEPARENT}, True),
        ("an integral float extension", PAYMENT | {"sequence": 3.0}, True),
        ("a blank source", PAYMENT | {"source": " "}, False),
        ("an escape in the id", PAYMENT | {"id": "evt-\x1b[31m"}, False),
        ("a float extension", PAYMENT | {"sequence": 1.5}, False),
        ("an extension header in capitals", PAYMENT | {"Sequence": 1}, False),
        ("an extension header with a final newline", PAYMENT | {"sequence\n": 1}, False),
        ("an extension header with a hyphen", PAYMENT | {"trace-parent": TRACEPARENT}, False),
        ("without a time", {name: v for name, v in PAYMENT.items() if name != "time"}, False),
        (
            "an amount over the bound",
            PAYMENT | {"data": PAYMENT["data"] | {"amount": "1" + "0" * 12}},
            False,
        ),
    ],
)
def test_the_binary_mode_message_accepts_what_residuo_accepts_in_binary_mode(
    case: str, event: dict[str, Any], accepted: bool
) -> None:
    """A payment published in binary mode passes the document's headers and payload
    schemas exactly when residuo accepts the structured event it stands for."""
    assert described_in_binary_mode("payment.received", event) is accepted, case


def test_each_binary_mode_message_has_a_header_for_every_attribute_but_data() -> None:
    """The headers are the envelope's attributes, `data` and `datacontenttype` aside (the
    body and the content type), each with the attribute's own schema."""
    generated = asyncapi_document()
    schemas = generated["components"]["schemas"]
    for event_type in INBOUND_TYPES:
        envelope = schemas[event_type]["properties"]
        headers = generated["components"]["messages"][f"{event_type}.binary"]["headers"]

        attributes = set(envelope) - {"data", "datacontenttype"}
        assert set(headers["properties"]) == {f"cloudEvents_{each}" for each in attributes}
        assert headers["properties"]["cloudEvents_id"] == envelope["id"]


def test_an_event_of_one_type_does_not_pass_the_binary_message_of_another() -> None:
    """Each binary message is its own type's: a payment's headers and data are not an
    activation.completed."""
    headers, body = binary_mode(demo_event("payment.received"))

    assert not validator("activation.completed.binary", "headers").is_valid(headers)
    assert validator("payment.received.binary", "headers").is_valid(headers)
    assert not validator("activation.completed.binary", "payload").is_valid(json.loads(body))


def test_every_dead_letter_queue_a_worker_has_is_a_channel(tmp_path: Path) -> None:
    """Each queue the workers consume (as bootstrap declares them) has its `.XQ` in the
    AsyncAPI document as a queue of that name, with the message it holds and an
    operation that sends it."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'books.sqlite3'}")
    with bootstrap(settings) as runtime:
        queues = {q_name(each) for each in runtime.broker.get_declared_queues()}
    sending = {
        operation["channel"]["$ref"]
        for operation in document()["operations"].values()
        if operation["action"] == "send"
    }

    assert queues == {EVENTS_QUEUE, SWEEPS_QUEUE}
    for queue in queues:
        name, channel = channel_at(f"{queue}.XQ", "queue")
        assert channel["bindings"]["amqp"]["queue"]["name"] == f"{queue}.XQ"
        assert channel["messages"], queue
        assert f"#/channels/{name}" in sending, queue


@pytest.fixture
def actors() -> tuple[ResiduoRabbitmqBroker, Actors]:
    """The worker's broker and actors; nothing connects to RabbitMQ or the books."""
    books = Ledger(create_database_engine("sqlite://"), Policy())
    broker = create_broker(
        "amqp://guest:guest@127.0.0.1:1/", middleware=[RejectInvalidEvents(ledger=books)]
    )
    assert isinstance(broker, ResiduoRabbitmqBroker)
    return broker, declare_actors(broker, books)


def test_a_sweeps_dead_letter_is_what_residuo_sweeps_xq_says_it_holds(
    actors: tuple[ResiduoRabbitmqBroker, Actors],
) -> None:
    """A sweep message given up on, as residuo dead-letters it (the Dramatiq message,
    its id and why in the headers), passes the headers and payload schemas of the
    message of the residuo.sweeps.XQ channel; an event's dead letter does not."""
    broker, wired = actors
    proxy = MessageProxy(wired.by_sweep_kind["expiry"].message("2027-01-11T04:30:00+01:00", None))
    proxy.options[DEAD_LETTER_OPTION] = {"reason": "retries_exhausted", "detail": "database down"}
    body, properties = dead_letter_of(broker, proxy)
    (_, channel) = channel_at(f"{SWEEPS_QUEUE}.XQ", "queue")
    (message,) = channel["messages"].values()
    name = message["$ref"].removeprefix("#/components/messages/")
    event = demo_event("payment.received")
    event_letter, _ = dead_letter_of(
        broker, MessageProxy(wired.by_event_type["payment.received"].message(event))
    )

    assert validator(name, "headers").is_valid(properties.headers)
    assert properties.headers["x-residuo-dead-letter-id"] == proxy.message_id
    assert validator(name, "payload").is_valid(json.loads(body))
    assert not validator(name, "payload").is_valid(json.loads(event_letter))
