"""The actors on the in-memory broker: invalid events, duplicates, retries, log context."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from ledger.store import schema
from residuo.bootstrap import Runtime, bootstrap, ensure_schema
from residuo.settings import Settings
from workers.actors import Actors, declare_actors
from workers.broker import MEMORY_BROKER_URL, create_broker
from workers.embedded import Delivery, EmbeddedWorker
from workers.errors import InvalidSweepError
from workers.ingress import route
from workers.middleware import RejectInvalidEvents, traceparent_of

PAID_AT = "2026-01-10T09:30:00+01:00"


def payment(event_id: str = "evt-pay", amount: str = "49.90") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "billing",
        "type": "payment.received",
        "time": PAID_AT,
        "data": {
            "order_id": "MI0001",
            "customer_id": "1234567@aruba.it",
            "service": "hosting",
            "amount": amount,
            "currency": "EUR",
            "paid_at": PAID_AT,
            "method": "card",
            "reference": None,
        },
    }


def activation_failed(event_id: str = "evt-fail") -> dict[str, Any]:
    failed_at = "2026-01-11T10:00:00+01:00"
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "billing",
        "type": "activation.failed",
        "time": failed_at,
        "data": {"order_id": "MI0001", "failed_at": failed_at},
    }


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'books.sqlite3'}")
    with bootstrap(settings) as runtime:
        ensure_schema(runtime.engine)
        yield runtime


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[EmbeddedWorker]:
    assert isinstance(runtime.broker, StubBroker)
    with EmbeddedWorker(runtime.broker) as worker:
        yield worker


def deliver(runtime: Runtime, worker: EmbeddedWorker, event: dict[str, Any]) -> Delivery:
    return worker.deliver(route(json.dumps(event).encode(), runtime.actors))


def outbox_types(runtime: Runtime) -> list[str]:
    with runtime.engine.connect() as connection:
        query = select(schema.outbox.c.type).order_by(schema.outbox.c.position)
        return list(connection.execute(query).scalars())


def test_an_invalid_event_is_reported_once_and_dead_lettered_each_time(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """Never retried: each delivery is dead-lettered, ops hear of the body once."""
    invalid = payment(amount="49.999")

    first = deliver(runtime, worker, invalid)
    second = deliver(runtime, worker, invalid)

    assert (first.status, second.status) == ("rejected", "rejected")
    assert first.detail is not None and first.detail.startswith("bad_amount: data.amount")
    assert isinstance(runtime.broker, StubBroker)
    dead = [message.message_id for message in runtime.broker.dead_letters]
    assert dead == [first.message_id, second.message_id]
    assert all("retries" not in message.options for message in runtime.broker.dead_letters)
    assert outbox_types(runtime) == ["event.rejected"]


def test_an_unroutable_body_is_rejected_like_any_invalid_event(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """Bad JSON reaches ops as ``event.rejected`` and the dead letters, not the void."""
    delivery = worker.deliver(route(b"{not json", runtime.actors))

    assert delivery.status == "rejected"
    assert delivery.detail is not None and delivery.detail.startswith("bad_json")
    assert outbox_types(runtime) == ["event.rejected"]


def test_an_event_whose_id_is_not_unicode_is_reported_and_dead_lettered(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """Valid JSON whose id holds a lone surrogate (``\\ud800``) can be neither stored
    nor put in a header as it is: ops still hear of it, under the escaped id, and it
    is dead-lettered at once instead of being retried for want of a report."""
    body = b'{"specversion":"1.0","id":"evt-\\ud800","source":"b","type":"payment.received"}'

    delivery = worker.deliver(route(body, runtime.actors))

    assert delivery.status == "rejected"
    assert delivery.detail is not None and delivery.detail.startswith("bad_json")
    assert isinstance(runtime.broker, StubBroker)
    (dead,) = runtime.broker.dead_letters
    assert "retries" not in dead.options
    assert dead.options["rejection"]["event_id"] == "evt-\\ud800"
    with runtime.engine.connect() as connection:
        payloads = connection.execute(select(schema.outbox.c.payload)).scalars().all()
    (rejected,) = [json.loads(payload) for payload in payloads]
    assert rejected["type"] == "event.rejected"
    assert rejected["data"]["event_id"] == "evt-\\ud800"
    assert rejected["data"]["reason"] == "bad_json"


def test_a_duplicate_delivery_applies_once(runtime: Runtime, worker: EmbeddedWorker) -> None:
    """The same failure event delivered twice makes one credit (R1, idempotent by id)."""
    deliver(runtime, worker, payment())
    deliver(runtime, worker, activation_failed())
    again = deliver(runtime, worker, activation_failed())

    assert again.status == "processed"
    assert outbox_types(runtime) == ["credit.granted"]
    with runtime.engine.connect() as connection:
        granted = connection.execute(select(schema.credits.c.granted_cents)).scalars().all()
    assert granted == [4990]


def test_a_rejection_that_cannot_be_recorded_is_retried_not_lost(
    runtime: Runtime, worker: EmbeddedWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the database briefly gone, the message waits for a report rather than
    being dead-lettered without one."""
    reject = runtime.ledger.reject
    calls: list[bytes] = []

    def flaky_reject(body: bytes, **fields: Any) -> bool:
        calls.append(body)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return reject(body, **fields)

    monkeypatch.setattr(runtime.ledger, "reject", flaky_reject)

    delivery = deliver(runtime, worker, payment(amount="-1.00"))

    assert delivery.status == "rejected"
    assert len(calls) == 2
    assert outbox_types(runtime) == ["event.rejected"]


def test_log_lines_of_a_message_carry_its_actor_and_event(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """Middleware binds the context, so the actor's own log line names the event."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        delivery = deliver(runtime, worker, payment())

    recorded = next(entry for entry in logs if entry["event"] == "event applied")
    assert recorded["actor"] == "payment_received"
    assert recorded["event_id"] == "evt-pay"
    assert recorded["message_id"] == delivery.message_id
    assert recorded["outcome"] == "applied"


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_an_event_with_extensions_is_applied_keeps_them_and_logs_its_traceparent(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """A ``traceparent`` extension (as tracing SDKs add) does not stop the event: it is
    applied, its extensions are kept with it in the inbox, and its log lines carry the
    trace."""
    event = payment() | {"traceparent": TRACEPARENT, "tenant": "it"}

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        delivery = deliver(runtime, worker, event)

    assert delivery.status == "processed"
    recorded = next(entry for entry in logs if entry["event"] == "event applied")
    assert recorded["traceparent"] == TRACEPARENT
    assert recorded["outcome"] == "applied"
    with runtime.engine.connect() as connection:
        kept = connection.execute(select(schema.inbox.c.payload)).scalar_one()
    assert (kept["traceparent"], kept["tenant"]) == (TRACEPARENT, "it")


def test_a_traceparent_not_of_the_w3c_shape_stays_out_of_the_log_context(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """Log lines carry only a trace id a tracer can join on; the event still applies."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        delivery = deliver(runtime, worker, payment() | {"traceparent": "not-a-trace"})

    assert delivery.status == "processed"
    recorded = next(entry for entry in logs if entry["event"] == "event applied")
    assert "traceparent" not in recorded


def test_sweep_all_runs_every_kind_in_dependency_order(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """``all`` is one message per kind, each settled before the next."""
    as_of = datetime.fromisoformat("2026-06-01T00:00:00+02:00")

    deliveries = [
        worker.deliver(message) for message in runtime.actors.sweep_messages("all", as_of)
    ]

    assert [each.status for each in deliveries] == ["processed"] * 4
    with runtime.engine.connect() as connection:
        payloads = connection.execute(
            select(schema.outbox.c.payload).order_by(schema.outbox.c.position)
        ).scalars()
        kinds = [json.loads(payload)["data"]["kind"] for payload in payloads]
    assert kinds == ["spid_timeout", "holds", "expiry", "reminders"]


def test_a_sweep_without_an_offset_is_refused_before_it_is_sent(runtime: Runtime) -> None:
    """A naive ``as_of`` is ambiguous by an hour or two: it never reaches a worker."""
    with pytest.raises(InvalidSweepError, match="no offset"):
        runtime.actors.sweep_messages("expiry", datetime(2026, 6, 1))


NOW = datetime.fromisoformat("2026-06-01T12:00:00+02:00")


@pytest.fixture
def clocked(runtime: Runtime) -> Iterator[tuple[Actors, EmbeddedWorker]]:
    """The actors as a RabbitMQ worker has them: sweeps judged against a clock."""
    broker = create_broker(
        MEMORY_BROKER_URL, middleware=[RejectInvalidEvents(ledger=runtime.ledger)]
    )
    assert isinstance(broker, StubBroker)
    actors = declare_actors(broker, runtime.ledger, clock=lambda: NOW)
    with EmbeddedWorker(broker) as worker:
        yield actors, worker


def test_a_sweep_at_an_instant_still_to_come_is_refused(
    clocked: tuple[Actors, EmbeddedWorker],
) -> None:
    """Run early, an expiry sweep would forfeit credit the customer may still use: a
    sweep message whose ``as_of`` is after the worker's now is dead-lettered, as
    ``residuo sweep --as-of`` refuses it; one at now runs."""
    actors, worker = clocked
    (future,) = actors.sweep_messages("expiry", NOW + timedelta(seconds=1))
    (present,) = actors.sweep_messages("expiry", NOW)

    refused, ran = worker.deliver(future), worker.deliver(present)

    assert refused.status == "failed"
    assert refused.detail is not None and "is in the future" in refused.detail
    assert refused.detail.startswith("not_retryable: InvalidSweepError")
    assert ran.status == "processed"


def test_a_replay_sweeps_at_the_instants_of_its_lines(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """Without a clock (a replay, on the embedded broker) a sweep line sets its own
    time, even one still to come for the wall clock."""
    (far,) = runtime.actors.sweep_messages("expiry", datetime.now(UTC) + timedelta(days=365))

    assert worker.deliver(far).status == "processed"


@pytest.mark.parametrize(
    ("traceparent", "kept"),
    [
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", True),
        ("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later-field", True),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", False),
        ("00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01", False),
        ("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", False),
        ("00-00000000000000000000000000000000-b7ad6b7169203331-01", False),
        ("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", False),
    ],
    ids=[
        "valid",
        "a later version with a field more",
        "version 00 with a field more",
        "upper-case hex",
        "version ff",
        "zero trace id",
        "zero parent id",
    ],
)
def test_a_traceparent_is_judged_by_w3c_trace_context(traceparent: str, kept: bool) -> None:
    """W3C Trace Context §3.2: lower-case hex; version ``ff`` is invalid, and so are
    all-zero ids; version ``00`` has exactly four fields, a later one may have more."""
    assert (traceparent_of({"traceparent": traceparent}) == traceparent) is kept
