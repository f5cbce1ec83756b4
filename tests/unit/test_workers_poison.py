"""Poison bodies on the in-memory broker: each is dead-lettered with its reason and
reported once, and the events after it are applied as if it had never come."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import select
from structlog.testing import capture_logs
from unit.test_workers_actors import outbox_types, payment

from ledger.store import schema
from messages import body_id
from residuo.bootstrap import Runtime, bootstrap, ensure_schema
from residuo.settings import Settings
from workers.embedded import Delivery, EmbeddedWorker
from workers.ingress import route

pytestmark = pytest.mark.reliability

LIMIT = 4_096


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'books.sqlite3'}", max_body_bytes=LIMIT
    )
    with bootstrap(settings) as runtime:
        ensure_schema(runtime.engine)
        yield runtime


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[EmbeddedWorker]:
    with EmbeddedWorker(runtime.broker) as worker:  # type: ignore[arg-type]
        yield worker


def deliver_raw(runtime: Runtime, worker: EmbeddedWorker, body: bytes) -> Delivery:
    """As ingress hands a raw body from RabbitMQ, with the configured size limit."""
    return worker.deliver(route(body, runtime.actors, max_body_bytes=LIMIT))


def rejected_rows(runtime: Runtime) -> list[Any]:
    with runtime.engine.connect() as connection:
        return list(connection.execute(select(schema.rejected_events)).all())


@pytest.mark.parametrize(
    "body",
    [b'{"a":' * 10_000 + b"{}" + b"}" * 10_000, b"[" * 1_000 + b"]" * 1_000],
    ids=["objects", "arrays"],
)
def test_a_deeply_nested_body_is_bad_json_and_the_next_event_is_applied(
    runtime: Runtime, worker: EmbeddedWorker, body: bytes
) -> None:
    """The poison body of the campaign: dead-lettered, reported, and no obstacle."""
    poison = deliver_raw(runtime, worker, body[:LIMIT] if len(body) > LIMIT else body)
    after = deliver_raw(runtime, worker, json.dumps(payment()).encode())

    assert poison.status == "rejected"
    assert poison.detail is not None and poison.detail.startswith("bad_json: ")
    assert after.status == "processed"
    assert outbox_types(runtime) == ["event.rejected"]


def test_a_body_over_the_limit_is_refused_and_kept_cut_with_its_digest(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """``body_too_large``: the books keep the first ``max_body_bytes`` and the digest of
    the whole, so two large bodies sharing a prefix are two reports, each under the id
    of its whole body, the id its dead letter has."""
    event = payment()
    event["data"]["reference"] = "x" * (2 * LIMIT)
    body = json.dumps(event).encode()
    other = body.replace(b'xxxx"}', b'xxxy"}')
    assert other != body

    first = deliver_raw(runtime, worker, body)
    second = deliver_raw(runtime, worker, other)

    assert (first.status, second.status) == ("rejected", "rejected")
    assert first.detail == (
        f"body_too_large: the body is {len(body)} bytes, more than the {LIMIT} accepted"
    )
    rows = rejected_rows(runtime)
    assert len(rows) == 2
    digest = hashlib.sha256(body).hexdigest()
    (kept,) = [row for row in rows if digest.encode() in row.body]
    assert kept.body.startswith(body[:LIMIT])
    assert len(kept.body) < LIMIT + 200
    assert kept.body_sha256 == digest


@pytest.mark.parametrize("paid_at", ["9999-12-31T23:00:00+01:00", "1970-01-01T00:00:00+00:00"])
def test_an_implausible_timestamp_is_refused_before_anything_is_booked(
    runtime: Runtime, worker: EmbeddedWorker, paid_at: str
) -> None:
    """Year 9999 would overflow the credit's expiry: refused up front, nothing booked."""
    event = payment()
    event["data"]["paid_at"] = paid_at

    delivery = deliver_raw(runtime, worker, json.dumps(event).encode())

    assert delivery.status == "rejected"
    assert delivery.detail is not None
    assert delivery.detail.startswith("implausible_timestamp: data.paid_at: ")
    with runtime.engine.connect() as connection:
        assert connection.execute(select(schema.orders)).all() == []
    assert outbox_types(runtime) == ["event.rejected"]


class Failing:
    """Stands in for ``Ledger.record``: raises ``error`` ``times`` times, then records."""

    def __init__(self, record: Any, error: Exception, times: int = 1_000) -> None:
        self._record = record
        self._error = error
        self._times = times
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self._times:
            raise self._error
        return self._record(*args, **kwargs)


def rejected_notifications(runtime: Runtime) -> list[dict[str, Any]]:
    with runtime.engine.connect() as connection:
        payloads = connection.execute(select(schema.outbox.c.payload)).scalars().all()
    return [
        json.loads(each)["data"]
        for each in payloads
        if json.loads(each)["type"] == "event.rejected"
    ]


def test_a_handler_that_raises_is_tried_three_times_then_dead_lettered_and_reported(
    runtime: Runtime, worker: EmbeddedWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug is not retried for hours: after 1 + 2 tries the event is dead-lettered as
    ``processing_error`` with the exception's type and message, and ops get exactly
    one ``event.rejected`` and a ``rejected_events`` row."""
    failing = Failing(runtime.ledger.record, ValueError("year 10000 is out of range"))
    monkeypatch.setattr(runtime.ledger, "record", failing)

    with capture_logs() as logs:
        delivery = deliver_raw(runtime, worker, json.dumps(payment()).encode())

    assert delivery.status == "failed"
    assert delivery.detail == "processing_error: ValueError: year 10000 is out of range"
    assert failing.calls == 3
    (reported,) = rejected_notifications(runtime)
    dead_letter_id = reported.pop("dead_letter_id")
    assert reported == {
        "event_id": "evt-pay",
        "event_type": "payment.received",
        "reason": "processing_error",
        "detail": "ValueError: year 10000 is out of range",
    }
    assert dead_letter_id.startswith("sha256:")
    (row,) = rejected_rows(runtime)
    assert (row.reason, row.event_id) == ("processing_error", "evt-pay")
    lines = [each["event"] for each in logs if each.get("event_id") == "evt-pay"]
    assert lines.count("event retried") == 2
    assert lines.count("event given up") == 1


def test_exhausted_transient_retries_tell_ops_too(
    runtime: Runtime, worker: EmbeddedWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that never comes back within the retries: ``retries_exhausted``,
    reported like any dead letter of an inbound event."""
    failing = Failing(runtime.ledger.record, ConnectionError("database unreachable"))
    monkeypatch.setattr(runtime.ledger, "record", failing)

    delivery = deliver_raw(runtime, worker, json.dumps(payment()).encode())

    assert delivery.detail == "retries_exhausted: ConnectionError: database unreachable"
    assert failing.calls == 4
    assert [each["reason"] for each in rejected_notifications(runtime)] == ["retries_exhausted"]
    assert [row.reason for row in rejected_rows(runtime)] == ["retries_exhausted"]


def test_a_handler_that_recovers_within_its_tries_loses_nothing(
    runtime: Runtime, worker: EmbeddedWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processing errors, then success: applied, nobody told."""
    failing = Failing(runtime.ledger.record, KeyError("flaky"), times=2)
    monkeypatch.setattr(runtime.ledger, "record", failing)

    delivery = deliver_raw(runtime, worker, json.dumps(payment()).encode())

    assert delivery.status == "processed"
    assert rejected_rows(runtime) == []


def test_a_report_that_cannot_be_written_is_tried_again_before_the_dead_letter(
    runtime: Runtime, worker: EmbeddedWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telling ops of a given-up event waits for the database like any transient
    fault; the event is dead-lettered only once they are told."""
    monkeypatch.setattr(runtime.ledger, "record", Failing(runtime.ledger.record, ValueError("bug")))
    failing_reject = Failing(
        runtime.ledger.reject, sqlalchemy.exc.OperationalError("INSERT", {}, OSError()), 2
    )
    monkeypatch.setattr(runtime.ledger, "reject", failing_reject)

    delivery = deliver_raw(runtime, worker, json.dumps(payment()).encode())

    assert delivery.detail == "processing_error: ValueError: bug"
    assert failing_reject.calls == 3
    assert [row.reason for row in rejected_rows(runtime)] == ["processing_error"]


def test_an_event_ops_can_never_be_told_of_is_dead_lettered_saying_so(
    runtime: Runtime, worker: EmbeddedWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the report fails as long as a transient fault may last, the event is
    dead-lettered all the same (never lost), its detail saying ops were not told."""
    monkeypatch.setattr(runtime.ledger, "record", Failing(runtime.ledger.record, ValueError("bug")))
    monkeypatch.setattr(
        runtime.ledger,
        "reject",
        Failing(runtime.ledger.reject, sqlalchemy.exc.OperationalError("INSERT", {}, OSError())),
    )

    delivery = deliver_raw(runtime, worker, json.dumps(payment()).encode())

    assert delivery.status == "failed"
    assert delivery.detail is not None
    assert delivery.detail.startswith("processing_error: ValueError: bug (ops could not be told:")


def event_rejected(runtime: Runtime) -> list[dict[str, Any]]:
    with runtime.engine.connect() as connection:
        payloads = connection.execute(
            select(schema.outbox.c.payload).where(schema.outbox.c.type == "event.rejected")
        ).scalars()
        return [json.loads(payload)["data"] for payload in payloads]


def test_a_message_whose_headers_could_not_be_read_is_reported_and_set_aside(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """Headers no client can read (pika's decoder failed on them): the body is not
    applied but dead-lettered as it is, ``bad_headers``, and ops are told under the
    event's id; the next event is applied."""
    body = json.dumps(payment()).encode()

    poison = worker.deliver(
        route(body, runtime.actors, unreadable_headers="RecursionError: maximum recursion")
    )
    after = deliver_raw(runtime, worker, json.dumps(payment("evt-after")).encode())

    assert poison.status == "rejected"
    assert poison.detail is not None and poison.detail.startswith("bad_headers: ")
    assert after.status == "processed"
    (told,) = event_rejected(runtime)
    assert (told["event_id"], told["reason"]) == ("evt-pay", "bad_headers")
    assert "RecursionError" in told["detail"]


def test_the_size_limit_bounds_the_bytes_received_not_their_re_encoding(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """A body of exactly ``max_body_bytes`` is judged (here applied), even though its
    canonical JSON, every non-ASCII character a six-byte escape, is longer; one byte
    more is ``body_too_large``."""
    event = payment()
    event["data"]["reference"] = ""
    padding = LIMIT - len(json.dumps(event, ensure_ascii=False).encode())
    event["data"]["reference"] = "è" * (padding // 2) + "x" * (padding % 2)
    body = json.dumps(event, ensure_ascii=False).encode()
    assert len(body) == LIMIT
    assert len(json.dumps(event, sort_keys=True, separators=(",", ":")).encode()) > LIMIT
    over = json.dumps(payment("evt-over") | {"pad": "x" * LIMIT}).encode()

    at_the_limit, too_large = deliver_raw(runtime, worker, body), deliver_raw(runtime, worker, over)

    assert at_the_limit.status == "processed"
    assert too_large.status == "rejected"
    assert too_large.detail is not None and too_large.detail.startswith("body_too_large: ")


def test_a_body_of_any_bytes_is_kept_byte_for_byte_and_named_by_its_dead_letter_id(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """NUL and bytes that are not UTF-8 reach the books as received, and the report,
    its row and the ``event rejected`` log line all name the dead letter's id."""
    body = b'{"id": "evt-nul", "note": "\x00"}\xff\xfe'

    with capture_logs() as logs:
        delivery = deliver_raw(runtime, worker, body)

    assert delivery.status == "rejected"
    (row,) = rejected_rows(runtime)
    assert row.body == body
    assert row.body_sha256 == hashlib.sha256(body).hexdigest()
    (told,) = event_rejected(runtime)
    assert told["dead_letter_id"] == body_id(body)
    (line,) = [entry for entry in logs if entry["event"] == "event rejected"]
    assert line["dead_letter_id"] == body_id(body)
