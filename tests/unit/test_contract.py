"""The machine-readable contract: checked in up to date, and true to the wire."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from messages import INBOUND_TYPES, NOTIFICATION_TYPES, InvalidEvent, parse_inbound
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
    """A third-decimal amount, an amount over the largest, an unknown data field, an
    extension name in capitals or ending in a newline, a fractional or a 33-bit
    extension, an id or a customer id with a control character fail the schema as they
    fail residuo; a traceparent and an integral float extension (JSON's integer) pass
    both."""
    payment = PAYMENT
    validator = schema_of("events", "payment.received")

    for right in (payment | {"traceparent": TRACEPARENT}, payment | {"sequence": 7.0}):
        validator.validate(right)
        parse_inbound(json.dumps(right))
    for wrong in (
        payment | {"data": payment["data"] | {"amount": "49.901"}},
        payment | {"data": payment["data"] | {"amount": TOO_MUCH}},
        payment | {"data": payment["data"] | {"colour": "red"}},
        payment | {"data": payment["data"] | {"customer_id": "1234567@aruba.it\x1b"}},
        payment | {"Traceparent": "x"},
        payment | {"sequence\n": 1},
        payment | {"sequence": 1.5},
        payment | {"sequence": 2.0**31},
        payment | {"id": "evt-1\t"},
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
        "health",
    ):
        assert f"residuo {verb}" in text, verb


@pytest.mark.parametrize(
    ("notification_type", "field"),
    [("credit.applied", "available_after"), ("refund.requested", "amount")],
)
def test_a_total_past_the_largest_amount_is_valid_in_its_notification_schema(
    demo_notifications: list[dict[str, Any]], notification_type: str, field: str
) -> None:
    """A total (what is left, a refund of every credit) may pass the largest amount of
    one credit; the published schema says so, to the cent, and still refuses a third
    decimal, a JSON number and a negative total."""
    (notification, *_) = [each for each in demo_notifications if each["type"] == notification_type]
    validator = schema_of("notifications", notification_type)

    def with_total(value: object) -> dict[str, Any]:
        return notification | {"data": notification["data"] | {field: value}}

    assert validator.is_valid(with_total(f"{1 + 10**15}.99"))
    for wrong in (f"{10**15}.999", 10**15, "-1.00"):
        assert not validator.is_valid(with_total(wrong)), wrong


def test_an_amount_past_the_largest_is_refused_by_its_notification_schema(
    demo_notifications: list[dict[str, Any]],
) -> None:
    """What one credit or order is worth stays bounded: credit.applied's `applied` is
    never more than the largest amount, in the schema as in residuo."""
    (applied, *_) = [each for each in demo_notifications if each["type"] == "credit.applied"]
    validator = schema_of("notifications", "credit.applied")

    assert validator.is_valid(applied | {"data": applied["data"] | {"applied": "999999999999.99"}})
    assert not validator.is_valid(
        applied | {"data": applied["data"] | {"applied": "1000000000000.00"}}
    )
