"""Attack on issue 10 (operator and integrator), no servers: what `dead-letters list`
shows at a terminal's default width, what `dead-letters replay` lets bounce straight
back, and where the JSON Schemas of the contract accept what residuo refuses.

Each test fails on the code it was written against; see the docstrings for the
observed and the expected behaviour."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from rich.console import Console

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import InvalidEvent, body_id, parse_inbound
from messages.bounds import DEFAULT_MAX_BODY_BYTES
from residuo.dead_letter_ops import replay_refusals
from residuo.dead_letter_views import dead_letters_table
from workers.middleware import traceparent_of
from workers.rabbitmq.dead_letter_queue import DeadLetter

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract" / "schemas" / "events"


def payment(**overrides: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": "evt-pay",
        "source": "billing",
        "type": "payment.received",
        "time": "2026-01-10T09:30:00+01:00",
        "data": {
            "order_id": "MI0001",
            "customer_id": "1234567@aruba.it",
            "service": "hosting",
            "amount": "49.90",
            "currency": "EUR",
            "paid_at": "2026-01-10T09:30:00+01:00",
            "method": "card",
            "reference": None,
        },
    }
    return event | overrides


def dead_letter(body: bytes, reason: str, detail: str, event_id: str | None) -> DeadLetter:
    """A dead letter of ``residuo.events`` as `list_dead_letters` reads it."""
    return DeadLetter(
        dead_letter_queue="residuo.events.XQ",
        message_id="5f0c3f5e-0000-5000-8000-000000000000",
        reason=reason,
        detail=detail,
        queue="residuo.events",
        actor="payment_received",
        event_id=event_id,
        event_type="payment.received" if event_id else None,
        retries=0,
        dead_lettered_at="2026-11-30T03:00:00+00:00",
        body=body,
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'books.sqlite3'}")
    upgrade(engine)
    yield Ledger(engine, Policy(), clock=lambda: datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    engine.dispose()


def test_attack10_dead_letters_list_at_80_columns_shows_each_id_whole_and_its_reason() -> None:
    """`residuo dead-letters list` piped (`| less`, `| grep`), in a CI log or in a
    narrow terminal is 80 columns wide.

    Observed: the no-wrap id column takes the whole width: the id is cut with an
    ellipsis (it cannot be copied into `replay`/`drop`), the Reason column is
    squeezed to nothing and the Detail column to an empty sliver, so the operator the
    `ResiduoDeadLetters` alert sends here learns neither which id nor why.
    Expected: every dead letter's whole id and its reason are on screen."""
    body = b"hello world"
    letters = [
        dead_letter(body, "bad_json", "body is not JSON: Expecting value", None),
        dead_letter(json.dumps(payment()).encode(), "bad_amount", "data.amount: 49.999", "evt-pay"),
    ]
    console = Console(width=80, record=True, color_system=None)

    console.print(dead_letters_table(letters, {}))

    shown = console.export_text()
    for letter in letters:
        assert letter.dead_letter_id in shown
        assert letter.reason in shown


def test_attack10_replay_refuses_an_implausible_timestamp_that_would_bounce_back(
    ledger: Ledger,
) -> None:
    """A payment dated 2150 is dead-lettered `implausible_timestamp` by the worker
    (`InboundBounds`). `replay_refusals` judges with `parse_inbound` only, which has no
    time window, so `residuo dead-letters replay evt-2150` re-publishes it (exit 0)
    and the worker dead-letters it again at once, under the same id (tried against a
    real worker: a new `dead_lettered_at`, nothing else).

    Expected (issue 10: "`replay` refusing what would only bounce back unless
    forced"): kept, "still invalid: implausible_timestamp …"."""
    event = payment(id="evt-2150", time="2150-02-10T09:30:00+01:00")
    event["data"] |= {"paid_at": "2150-02-10T09:30:00+01:00"}
    body = json.dumps(event).encode()
    letter = dead_letter(body, "implausible_timestamp", "time: 2150-02-10…", "evt-2150")

    refusals = replay_refusals(ledger, [letter])

    assert letter.dead_letter_id in refusals
    assert "implausible_timestamp" in refusals[letter.dead_letter_id]


def test_attack10_replay_refuses_a_body_too_large_that_would_bounce_back(
    ledger: Ledger,
) -> None:
    """A valid event padded past `RESIDUO_MAX_BODY_BYTES` with an extension attribute
    is dead-lettered `body_too_large`; `parse_inbound` accepts it, so replay sends it
    back to be refused unread again. Expected: kept as still invalid."""
    body = json.dumps(payment(padding="x" * DEFAULT_MAX_BODY_BYTES)).encode()
    assert parse_inbound(body)  # valid in shape: only the size bound refuses it
    letter = dead_letter(body, "body_too_large", f"the body is {len(body)} bytes", None)

    refusals = replay_refusals(ledger, [letter])

    assert body_id(body) in refusals
    assert "body_too_large" in refusals[body_id(body)]


def _schema_accepts(event: dict[str, Any]) -> bool:
    schema = json.loads((CONTRACT / f"{event['type']}.json").read_text())
    return not list(Draft202012Validator(schema).iter_errors(event))


def _residuo_accepts(event: dict[str, Any]) -> bool:
    try:
        parse_inbound(json.dumps(event))
    except InvalidEvent:
        return False
    return True


def _with_data(**data: Any) -> dict[str, Any]:
    event = payment()
    event["data"] = event["data"] | data
    return event


@pytest.mark.parametrize(
    ("case", "event"),
    [
        ("a blank source", payment(source="   ")),
        ("an escape sequence in the id", payment(id="evt-\x1b[31m")),
        ("a newline in customer_id", _with_data(customer_id="1234567\n@aruba.it")),
        ("an amount over the books' maximum", _with_data(amount="1000000000000.00")),
    ],
)
def test_attack10_the_event_schemas_refuse_what_residuo_refuses(
    case: str, event: dict[str, Any]
) -> None:
    """docs/contract.md: "A JSON Schema says what shape passes; a few rules are not
    expressible there and are only in this page: the configured currency, amounts
    above 0, a misspelt core attribute, a transfer needing `new_order`."

    Observed: the published schema accepts each of these events, which residuo
    dead-letters (`bad_schema` / `bad_amount`); all are expressible in JSON Schema
    (`pattern`, `maxLength`) and none is among the four listed. An integrator who
    validates against the contract before publishing is told the event is fine.
    Expected: the schema and residuo agree (or contract.md lists the rule)."""
    assert not _residuo_accepts(event), case
    assert _schema_accepts(event) is False, f"the schema accepts {case}"


@pytest.mark.parametrize(
    "traceparent",
    [
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
    ],
)
def test_attack10_an_invalid_w3c_traceparent_stays_out_of_the_log_context(
    traceparent: str,
) -> None:
    """docs/contract.md: "A W3C `traceparent` is bound to the log lines"; `BindLogContext`:
    "A `traceparent` that is not of the W3C shape is left out of the log context …
    log lines carry only what a tracer can join on".

    Observed: the check is a regular expression of the field widths only, so version
    `ff` and the all-zero trace and parent ids, which W3C Trace Context declares
    invalid (a tracer drops them), are bound to every log line of the event (seen in
    a worker's log: `"traceparent": "ff-0000…"`). Expected: left out."""
    assert traceparent_of({"traceparent": traceparent}) is None


ASYNCAPI = CONTRACT.parents[1] / "asyncapi.json"


def test_attack10_the_asyncapi_document_describes_binary_content_mode() -> None:
    """contract.md §2 accepts events in binary content mode (attributes as
    `cloudEvents_*` headers, `data` as the body), an extension residuo added.

    Observed: docs/contract/asyncapi.json describes each inbound message only as the
    structured CloudEvent (`contentType: application/json`, payload the whole event);
    no message mentions a `cloudEvents_…` header, so an integrator generating a
    client from the AsyncAPI document cannot learn of binary mode, nor of its
    header names. Expected: a binary-mode message (headers schema with
    `cloudEvents_specversion`, `cloudEvents_id`, … and the `data` schema as payload)."""
    document = ASYNCAPI.read_text()

    assert "cloudEvents_specversion" in document


def test_attack10_the_asyncapi_document_has_every_dead_letter_queue_of_the_contract() -> None:
    """contract.md §5: "Each work queue has a dead-letter queue `<queue>.XQ`
    (`residuo.events.XQ`, `residuo.sweeps.XQ`), kept until ops decide", and `residuo
    dead-letters --queue residuo.sweeps` acts on the second.

    Observed: the AsyncAPI document's channels are `residuo.events` (exchange and
    queue), `residuo.events.XQ` and `residuo.notifications` (exchange and queue):
    `residuo.sweeps.XQ` (whose dead letters are Dramatiq messages, known by their
    message id, not `sha256:`) is missing. Expected: a channel for it."""
    channels = json.loads(ASYNCAPI.read_text())["channels"]

    assert "residuo.sweeps.XQ" in {channel["address"] for channel in channels.values()}
