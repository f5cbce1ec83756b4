"""attack14: a customer's events published back to back to a worker of four threads
(the delivery order on PostgreSQL) leave the books a one-by-one replay leaves."""

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import pytest
from scenarios.kit import account_totals, assert_books_balance, rome
from sqlalchemy import Engine, func, select

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store import schema
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import parse_inbound
from residuo.bootstrap import Runtime, bootstrap
from residuo.processes import run_worker
from residuo.settings import Settings

DEADLINE_S = 120
CUSTOMERS = 5
PERSISTENT = pika.BasicProperties(delivery_mode=2, content_type="application/json")


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
    deadline = time.monotonic() + DEADLINE_S
    while True:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        try:
            channel = connection.channel()
            channel.exchange_declare("residuo.events", passive=True)
            channel.confirm_delivery()
            for body in bodies:
                channel.basic_publish(
                    "residuo.events", body["type"], json.dumps(body).encode(), PERSISTENT
                )
            return
        except pika.exceptions.ChannelClosedByBroker:
            assert time.monotonic() < deadline, "the worker never declared its exchange"
            time.sleep(0.05)
        finally:
            if connection.is_open:
                connection.close()


def _inbox_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(schema.inbox)).scalar_one())


def _credits(engine: Engine) -> list[tuple[Any, ...]]:
    c = schema.credits.c
    columns = (c.credit_id, c.granted_cents, c.available_cents, c.used_cents, c.held_cents)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(*columns).order_by(c.credit_id))]


def test_back_to_back_events_leave_the_books_of_a_one_by_one_replay(
    worker: Runtime, rabbitmq_url: str, tmp_path: Path
) -> None:
    bodies = [body for customer in range(1, CUSTOMERS + 1) for body in _story(customer)]

    _publish(rabbitmq_url, bodies)
    deadline = time.monotonic() + DEADLINE_S
    while _inbox_count(worker.engine) < len(bodies):
        assert time.monotonic() < deadline, f"{_inbox_count(worker.engine)} of {len(bodies)}"
        time.sleep(0.1)

    replayed = create_database_engine(f"sqlite:///{tmp_path / 'one-by-one.db'}")
    try:
        upgrade(replayed)
        ledger = Ledger(replayed, Policy())
        for body in bodies:
            ledger.record(parse_inbound(body))
        assert_books_balance(worker.engine)
        assert account_totals(worker.engine) == account_totals(replayed)
        assert _credits(worker.engine) == _credits(replayed)
    finally:
        replayed.dispose()
