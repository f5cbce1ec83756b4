"""The machine-readable contract: checked in up to date, and true to the wire."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dramatiq.common import q_name
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from messages import INBOUND_TYPES, NOTIFICATION_TYPES, InvalidEvent, parse_inbound
from messages.amqp_binding import structured_event
from residuo.bootstrap import bootstrap, ensure_schema
from residuo.contract import asyncapi_document, contract_files
from residuo.replay import parse_line, replaying, split_lines
from residuo.settings import Settings
from workers.relay import JsonLinesPublisher

ROOT = Path(__file__).resolve().parents[2]
EXPORTED = ROOT / "docs" / "contract"
DEMO = ROOT / "residuo" / "scenarios" / "demo.jsonl"


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


TOO_MUCH = "1000000000000.00"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def schema_of(kind: str, message_type: str) -> Draft202012Validator:
    schema = json.loads((EXPORTED / "schemas" / kind / f"{message_type}.json").read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_checked_in_contract_is_what_the_models_generate() -> None:
    """docs/contract/ is exactly `residuo contract export docs/contract` of this code:
    run it after changing a model, and commit what it wrote."""
    files = contract_files()
    on_disk = {
        path.relative_to(EXPORTED).as_posix(): path.read_text(encoding="utf-8")
        for path in EXPORTED.rglob("*.json")
    }

    assert sorted(on_disk) == sorted(files), "run: uv run residuo contract export docs/contract"
    for path, text in files.items():
        assert on_disk[path] == text, (
            f"{path} is stale: uv run residuo contract export docs/contract"
        )


def test_every_event_and_notification_type_has_a_schema_and_a_message() -> None:
    """Types are read from the models: a notification type added to NOTIFICATION_TYPES
    gets its schema and its AsyncAPI message without touching the generator."""
    files = contract_files()
    document = asyncapi_document()

    assert {f"schemas/events/{each}.json" for each in INBOUND_TYPES} <= set(files)
    assert {f"schemas/notifications/{each}.json" for each in NOTIFICATION_TYPES} <= set(files)
    binary = {f"{each}.binary" for each in INBOUND_TYPES}
    assert set(document["channels"]["notifications"]["messages"]) == set(NOTIFICATION_TYPES)
    assert set(document["channels"]["events"]["messages"]) == set(INBOUND_TYPES) | binary
    for schema in (Draft202012Validator(json.loads(text)) for text in files.values()):
        Draft202012Validator.check_schema(schema.schema)


@pytest.fixture
def demo_notifications(tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """Every notification the bundled demo story makes, as published."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'books.sqlite3'}")
    stream = io.StringIO()
    with bootstrap(settings) as runtime:
        ensure_schema(runtime.engine)
        with replaying(runtime, JsonLinesPublisher(stream)) as replayer:
            for number, raw in split_lines(DEMO.read_bytes()):
                replayer.feed(number, parse_line(raw))
    yield [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_demo_story_is_valid_against_the_schemas(
    demo_notifications: list[dict[str, Any]],
) -> None:
    """Each inbound event of the demo that residuo accepts validates against its event
    schema, and each notification it publishes against its notification schema."""
    lines = [json.loads(line) for line in DEMO.read_text().splitlines() if line.strip()]
    events = [each for each in lines if each.get("type") in INBOUND_TYPES]
    verdicts = []

    for event in events:
        try:
            parse_inbound(event)
        except InvalidEvent:
            accepted = False
        else:
            accepted = True
        errors = list(schema_of("events", event["type"]).iter_errors(event))
        assert (errors == []) == accepted, (event["id"], errors)
        verdicts.append(accepted)
    assert False in verdicts, "the demo's invalid event is refused by both"
    assert len({each["type"] for each in demo_notifications}) >= 8
    for notification in demo_notifications:
        schema_of("notifications", notification["type"]).validate(notification)


def test_the_event_schema_refuses_what_residuo_refuses() -> None:
    """A third-decimal amount, an unknown data field, an extension name in capitals or
    a float extension fail the schema as they fail residuo; a traceparent passes both."""
    payment = PAYMENT
    validator = schema_of("events", "payment.received")
    traced = payment | {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}

    validator.validate(traced)
    parse_inbound(traced)
    for wrong in (
        payment | {"data": payment["data"] | {"amount": "49.901"}},
        payment | {"data": payment["data"] | {"colour": "red"}},
        payment | {"Traceparent": "x"},
        payment | {"sequence": 1.5},
    ):
        with pytest.raises(ValidationError):
            validator.validate(wrong)
        with pytest.raises(InvalidEvent):
            parse_inbound(wrong)


def test_contract_md_names_every_type_and_verb() -> None:
    """The prose contract keeps up with the models and the command line."""
    text = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")

    for each in (*INBOUND_TYPES, *NOTIFICATION_TYPES):
        assert f"`{each}`" in text, each
    for verb in (
        "demo",
        "replay",
        "balance",
        "statement",
        "publish",
        "sweep",
        "migrate",
        "status",
        "dead-letters",
        "report",
        "contract",
        "metrics",
    ):
        assert f"residuo {verb}" in text, verb


def asyncapi_validator(message: str, part: str) -> Draft202012Validator:
    """The schema of one message's ``headers`` or ``payload`` in the checked-in AsyncAPI
    document, its references resolved within the document."""
    document = json.loads((EXPORTED / "asyncapi.json").read_text())
    schema = document["components"]["messages"][message][part]
    return Draft202012Validator({**document, **schema})


def binary_mode(event: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The headers and body a publisher in binary content mode sends for ``event``."""
    headers = {f"cloudEvents_{name}": value for name, value in event.items() if name != "data"}
    return headers, json.dumps(event["data"]).encode()


@pytest.mark.parametrize(
    ("case", "event"),
    [
        ("valid", PAYMENT),
        (
            "with an extension",
            PAYMENT | {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        ),
        ("a blank source", PAYMENT | {"source": " "}),
        ("an escape in the id", PAYMENT | {"id": "evt-\x1b[31m"}),
        ("a float extension", PAYMENT | {"sequence": 1.5}),
        ("without a time", {name: v for name, v in PAYMENT.items() if name != "time"}),
        (
            "an amount over the bound",
            PAYMENT | {"data": PAYMENT["data"] | {"amount": "1" + "0" * 12}},
        ),
    ],
)
def test_the_binary_mode_message_accepts_what_residuo_accepts_in_binary_mode(
    case: str, event: dict[str, Any]
) -> None:
    """A message published in binary mode passes the AsyncAPI document's headers and
    payload schemas exactly when residuo accepts the structured event it stands for."""
    headers, body = binary_mode(event)
    structured = structured_event(headers, "application/json", body)
    assert structured is not None, case
    try:
        parse_inbound(structured)
    except InvalidEvent:
        accepted = False
    else:
        accepted = True

    described = asyncapi_validator("payment.received.binary", "headers").is_valid(
        headers
    ) and asyncapi_validator("payment.received.binary", "payload").is_valid(json.loads(body))

    assert described == accepted, case


def test_each_binary_mode_message_has_a_header_for_every_attribute_but_data() -> None:
    """The headers are the envelope's attributes, `data` and `datacontenttype` aside (the
    body and the content type), each with the attribute's own schema."""
    document = asyncapi_document()
    schemas = document["components"]["schemas"]
    for event_type in INBOUND_TYPES:
        envelope = schemas[event_type]["properties"]
        headers = document["components"]["messages"][f"{event_type}.binary"]["headers"]

        attributes = set(envelope) - {"data", "datacontenttype"}
        assert set(headers["properties"]) == {f"cloudEvents_{each}" for each in attributes}
        assert headers["properties"]["cloudEvents_id"] == envelope["id"]


def test_every_dead_letter_queue_a_worker_has_is_a_channel(tmp_path: Path) -> None:
    """Each queue the workers consume (as bootstrap declares them) has its `.XQ` in the
    AsyncAPI document, with the message it holds."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'books.sqlite3'}")
    with bootstrap(settings) as runtime:
        queues = {q_name(each) for each in runtime.broker.get_declared_queues()}
    channels = asyncapi_document()["channels"].values()
    by_address = {channel["address"]: channel for channel in channels}

    assert queues == {"residuo.events", "residuo.sweeps"}
    for queue in queues:
        assert by_address[f"{queue}.XQ"]["messages"], queue
