"""An event's life in the log, one line per state change, and in the worker's metrics."""

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
import structlog
from dramatiq.brokers.stub import StubBroker
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from ledger.service import Recording
from residuo.bootstrap import Runtime
from workers.embedded import Delivery, EmbeddedWorker
from workers.ingress import route

CUSTOMER = "1234567@aruba.it"
PAID_AT = "2026-01-10T09:30:00+01:00"
FAILED_AT = "2026-01-11T10:00:00+01:00"


def event(event_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "billing",
        "type": event_type,
        "time": PAID_AT,
        "data": data,
    }


def payment(event_id: str = "evt-pay", order_id: str = "MI0001") -> dict[str, Any]:
    return event(
        event_id,
        "payment.received",
        {
            "order_id": order_id,
            "customer_id": CUSTOMER,
            "service": "hosting",
            "amount": "49.90",
            "currency": "EUR",
            "paid_at": PAID_AT,
            "method": "card",
        },
    )


def failure(event_id: str = "evt-fail", order_id: str = "MI0001") -> dict[str, Any]:
    return event(event_id, "activation.failed", {"order_id": order_id, "failed_at": FAILED_AT})


def request(event_id: str, **data: Any) -> dict[str, Any]:
    return event(
        event_id,
        "credit.requested",
        {
            "request_id": f"R-{event_id}",
            "customer_id": CUSTOMER,
            "requested_at": "2026-02-01T10:00:00+01:00",
            **data,
        },
    )


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[EmbeddedWorker]:
    assert isinstance(runtime.broker, StubBroker)
    with EmbeddedWorker(runtime.broker) as worker:
        yield worker


def deliver(runtime: Runtime, worker: EmbeddedWorker, body: dict[str, Any]) -> Delivery:
    return worker.deliver(route(json.dumps(body).encode(), runtime.actors))


def lines_of(logs: Sequence[Mapping[str, Any]], event_id: str) -> list[str]:
    """The log lines naming ``event_id``, in order, by their message."""
    return [line["event"] for line in logs if line.get("event_id") == event_id]


def test_an_event_received_and_applied_logs_both_with_its_id(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """``grep evt-pay`` finds the event received, then applied, and nothing else."""
    with capture_logs() as logs:
        deliver(runtime, worker, payment())

    assert lines_of(logs, "evt-pay") == ["event received", "event applied"]
    received = next(line for line in logs if line["event"] == "event received")
    assert received["event_type"] == "payment.received"
    assert received["actor"] == "payment_received"
    assert received["retries"] == 0


def test_a_parked_event_applied_later_logs_it_under_its_own_id(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """An activation failure before its payment is parked; the payment applies it,
    and the failure's own id shows that, naming the payment that let it apply (the
    line's own event id wins over the payment's, bound in the log context)."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        deliver(runtime, worker, failure())
        deliver(runtime, worker, payment())

    assert lines_of(logs, "evt-fail") == ["event received", "event parked", "parked event applied"]
    unparked = next(line for line in logs if line["event"] == "parked event applied")
    assert unparked["applied_with"] == "evt-pay"
    assert unparked["event_type"] == "activation.failed"
    assert lines_of(logs, "evt-pay") == ["event received", "event applied"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"action": "refund", "channel": "documents", "documents": []}, "missing_documents"),
        ({"action": "refund", "channel": "online_form", "documents": []}, "not_refundable"),
    ],
)
def test_a_refused_request_logs_its_reason_never_applied(
    runtime: Runtime, worker: EmbeddedWorker, data: dict[str, Any], reason: str
) -> None:
    """The inbox keeps a refused request as handled, but the log says what the
    customer was told: refused, and why."""
    deliver(runtime, worker, payment())
    deliver(runtime, worker, failure())

    with capture_logs() as logs:
        deliver(runtime, worker, request("evt-req", **data))

    assert lines_of(logs, "evt-req") == ["event received", "event refused"]
    refused = next(line for line in logs if line["event"] == "event refused")
    assert refused["reason"] == reason
    assert refused["outcome"] == "refused"
    assert not [line for line in logs if line.get("outcome") == "applied"]


def test_a_redelivered_event_logs_a_duplicate(runtime: Runtime, worker: EmbeddedWorker) -> None:
    """The second delivery of an applied event changes nothing and says so."""
    deliver(runtime, worker, payment())

    with capture_logs() as logs:
        deliver(runtime, worker, payment())

    assert lines_of(logs, "evt-pay") == ["event received", "event duplicate"]


def test_a_transient_failure_logs_the_retry_then_the_outcome(
    runtime: Runtime, worker: EmbeddedWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database hiccup: retried, received again (``retries`` 1), then applied."""
    record = runtime.ledger.record
    calls: list[str] = []

    def flaky_record(parsed: Any) -> Recording:
        calls.append(parsed.id)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return record(parsed)

    monkeypatch.setattr(runtime.ledger, "record", flaky_record)

    with capture_logs() as logs:
        deliver(runtime, worker, payment())

    assert lines_of(logs, "evt-pay") == [
        "event received",
        "event retried",
        "event received",
        "event applied",
    ]
    retried = next(line for line in logs if line["event"] == "event retried")
    assert retried["retries"] == 1
    assert retried["error"].startswith("OperationalError: (builtins.Exception) database is locked")
    assert [line["retries"] for line in logs if line["event"] == "event received"] == [0, 1]


def test_an_invalid_event_is_logged_rejected_with_its_reason(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """Received, then rejected: the reason is on the line, the id in the context."""
    invalid = payment("evt-bad") | {"data": {"amount": "oops"}}

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        deliver(runtime, worker, invalid)

    assert lines_of(logs, "evt-bad") == ["event received", "event rejected"]
    rejected = next(line for line in logs if line["event"] == "event rejected")
    assert rejected["reason"] == "bad_amount"


def sample(runtime: Runtime, name: str, **labels: str) -> float:
    value = runtime.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_the_worker_counts_events_by_outcome_and_messages_by_actor(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """Events by type and outcome (a parked event counted again once applied),
    refusals by reason, messages by actor and their durations by outcome."""
    deliver(runtime, worker, failure())
    deliver(runtime, worker, payment())
    deliver(runtime, worker, payment())
    deliver(
        runtime, worker, request("evt-req", action="refund", channel="online_form", documents=[])
    )
    deliver(runtime, worker, payment("evt-bad") | {"data": {}})
    deliver(runtime, worker, {"type": "no.such.type", "id": "evt-odd"})

    def events(event_type: str, outcome: str) -> float:
        return sample(runtime, "residuo_events_total", event_type=event_type, outcome=outcome)

    assert events("activation.failed", "parked") == 1
    assert events("activation.failed", "applied") == 1
    assert events("payment.received", "applied") == 1
    assert events("payment.received", "duplicate") == 1
    assert events("credit.requested", "refused") == 1
    assert events("payment.received", "rejected") == 1
    assert events("other", "rejected") == 1
    refusals = "residuo_events_refused_total"
    assert sample(runtime, refusals, event_type="credit.requested", reason="not_refundable") == 1
    assert sample(runtime, refusals, event_type="payment.received", reason="bad_schema") == 1
    queue = {"queue_name": "residuo.events"}
    assert sample(runtime, "dramatiq_messages_total", actor_name="payment_received", **queue) == 3
    assert (
        sample(runtime, "dramatiq_message_rejects_total", actor_name="payment_received", **queue)
        == 1
    )
    assert (
        sample(runtime, "dramatiq_messages_inprogress", actor_name="payment_received", **queue) == 0
    )
    durations = "residuo_message_duration_seconds_count"
    assert sample(runtime, durations, actor_name="payment_received", outcome="processed") == 2
    assert sample(runtime, durations, actor_name="payment_received", outcome="dead_lettered") == 1
    assert sample(runtime, durations, actor_name="unroutable_event", outcome="dead_lettered") == 1


def test_a_retry_is_counted_for_its_actor(
    runtime: Runtime, worker: EmbeddedWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message retried once counts an error and a retry, then a success."""
    record = runtime.ledger.record
    failures = iter([OperationalError("INSERT", {}, Exception("database is locked"))])

    def flaky_record(parsed: Any) -> Recording:
        for error in failures:
            raise error
        return record(parsed)

    monkeypatch.setattr(runtime.ledger, "record", flaky_record)

    deliver(runtime, worker, payment())

    labels = {"queue_name": "residuo.events", "actor_name": "payment_received"}
    assert sample(runtime, "dramatiq_message_errors_total", **labels) == 1
    assert sample(runtime, "dramatiq_message_retries_total", **labels) == 1
    assert sample(runtime, "dramatiq_messages_total", **labels) == 2
    durations = "residuo_message_duration_seconds_count"
    assert sample(runtime, durations, actor_name="payment_received", outcome="retried") == 1
    assert sample(runtime, durations, actor_name="payment_received", outcome="processed") == 1


def test_an_id_reused_for_another_body_logs_the_conflict(
    runtime: Runtime, worker: EmbeddedWorker
) -> None:
    """Another payment under an id already applied: not applied, and the log says why."""
    deliver(runtime, worker, payment())

    with capture_logs() as logs:
        deliver(runtime, worker, payment(order_id="MI0002"))

    assert lines_of(logs, "evt-pay") == ["event received", "event id conflict"]
    conflict = next(line for line in logs if line["event"] == "event id conflict")
    assert (conflict["outcome"], conflict["reason"]) == ("conflict", "id_conflict")
    counted = runtime.registry.get_sample_value(
        "residuo_events_refused_total", {"event_type": "payment.received", "reason": "id_conflict"}
    )
    assert counted == 1
