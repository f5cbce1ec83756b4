"""Poison bodies on the in-memory broker: each is dead-lettered with its reason and
reported once, and the events after it are applied as if it had never come."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from unit.test_workers_actors import outbox_types, payment

from ledger.store import schema
from residuo.bootstrap import Runtime, bootstrap, ensure_schema
from residuo.settings import Settings
from workers.embedded import Delivery, EmbeddedWorker
from workers.ingress import route

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
    the whole, so two large bodies sharing a prefix are two reports."""
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
    kept = next(row.body for row in rows if hashlib.sha256(body).hexdigest() in row.body)
    assert kept.startswith(body[:LIMIT].decode())
    assert len(kept) < LIMIT + 200


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
