"""attack14: a customer's events published back to back to a worker of four threads
(the delivery order on PostgreSQL) leave the books a one-by-one replay leaves: a story
of five customers, and each handed case without a sweep line (``scenarios/cases``)."""

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from publishing import publish_routed
from scenarios.kit import account_totals, assert_books_balance, rome
from sqlalchemy import Engine, func, select

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store import schema
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import InvalidEvent, parse_inbound
from residuo.bootstrap import Runtime, bootstrap
from residuo.processes import run_worker
from residuo.settings import Settings

DEADLINE_S = 120
CUSTOMERS = 5
CASES = Path(__file__).parents[1] / "scenarios" / "cases"


def _body(event_id: str, event_type: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "billing",
        "type": event_type,
        "time": at.isoformat(),
        "data": data,
    }


def _story(customer: int) -> list[dict[str, Any]]:
    """Two orders paid, the first failing (its credit), a transfer spending part of it."""
    who, day = f"{customer}00{customer}@aruba.it", rome(2026, 3, 2)

    def paid(order: str, amount: str, at: datetime) -> dict[str, Any]:
        data = {
            "order_id": order,
            "customer_id": who,
            "service": "hosting",
            "amount": amount,
            "currency": "EUR",
            "paid_at": at.isoformat(),
            "method": "card",
            "reference": None,
        }
        return _body(f"pay-{order}", "payment.received", at, data)

    failed_at = day + timedelta(days=1)
    requested_at = day + timedelta(days=2)
    return [
        paid(f"MI{customer}A", "120.00", day),
        paid(f"MI{customer}B", "80.00", day + timedelta(minutes=1)),
        _body(
            f"fail-MI{customer}A",
            "activation.failed",
            failed_at,
            {"order_id": f"MI{customer}A", "failed_at": failed_at.isoformat(), "reason": "x"},
        ),
        _body(
            f"req-R{customer}",
            "credit.requested",
            requested_at,
            {
                "request_id": f"R{customer}",
                "customer_id": who,
                "action": "transfer",
                "channel": "online_form",
                "requested_at": requested_at.isoformat(),
                "new_order": {
                    "order_id": f"MI{customer}C",
                    "amount": "50.00",
                    "currency": "EUR",
                    "purpose": "purchase",
                    "service": "vps",
                },
            },
        ),
    ]


@pytest.fixture
def worker(postgres_url: str, rabbitmq_url: str) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(database_url=postgres_url, broker_url=rabbitmq_url))
    upgrade(runtime.engine)
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker, args=(runtime,), kwargs={"threads": 4, "stop": stop}
    )
    thread.start()
    try:
        yield runtime
    finally:
        stop.set()
        thread.join(DEADLINE_S)
        runtime.close()


def _publish(url: str, bodies: list[dict[str, Any]]) -> None:
    publish_routed(url, [(body["type"], json.dumps(body).encode()) for body in bodies])


def _settled(engine: Engine) -> int:
    """Events the books hold, applied, parked or rejected (an invalid body, an id reused)."""
    with engine.connect() as connection:
        return sum(
            int(connection.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (schema.inbox, schema.rejected_events)
        )


def _credits(engine: Engine) -> list[tuple[Any, ...]]:
    c = schema.credits.c
    columns = (c.credit_id, c.granted_cents, c.available_cents, c.used_cents, c.held_cents)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(*columns).order_by(c.credit_id))]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _stories() -> list[Any]:
    """The five customers' story, then every handed case made of events only (a sweep
    line is no message to publish)."""
    story = [body for customer in range(1, CUSTOMERS + 1) for body in _story(customer)]
    cases = [
        pytest.param(_lines(path), id=path.stem)
        for path in sorted(CASES.rglob("*.jsonl"))
        if all(line.get("type") != "sweep" for line in _lines(path))
    ]
    return [pytest.param(story, id="five-customers"), *cases]


@pytest.mark.parametrize("bodies", _stories())
def test_back_to_back_events_leave_the_books_of_a_one_by_one_replay(
    worker: Runtime, rabbitmq_url: str, tmp_path: Path, bodies: list[dict[str, Any]]
) -> None:
    _publish(rabbitmq_url, bodies)
    deadline = time.monotonic() + DEADLINE_S
    while _settled(worker.engine) < len(bodies):
        assert time.monotonic() < deadline, f"{_settled(worker.engine)} of {len(bodies)}"
        time.sleep(0.1)

    replayed = create_database_engine(f"sqlite:///{tmp_path / 'one-by-one.db'}")
    try:
        upgrade(replayed)
        ledger = Ledger(replayed, Policy())
        for body in bodies:
            try:
                event = parse_inbound(body)
            except InvalidEvent:
                continue  # dead-lettered by the worker, never in the books
            ledger.record(event)
        assert_books_balance(worker.engine)
        assert account_totals(worker.engine) == account_totals(replayed)
        assert _credits(worker.engine) == _credits(replayed)
    finally:
        replayed.dispose()
