"""How much an inbound event costs the ledger, relative to a bare commit.

Run: ``uv run python benchmarks/ledger_throughput.py [DATABASE_URL] [--events N]``
(default: a temporary SQLite file). Pass a PostgreSQL URL of an empty database to
measure the production backend.

Absolute times depend on the machine, so the figure that matters is a ratio
measured in the same run: the per-event cost of ``Ledger.record`` (inbox claim,
rule, journal, outbox, one commit) over the cost of the cheapest transaction the
same database can do, one single-row insert and commit. The story fed through is a
realistic mix: payments, failed activations that make credit, and transfers.
"""

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, Table

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import InboundEvent, parse_inbound

_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _event(event_id: str, event_type: str, at: datetime, **data: Any) -> InboundEvent:
    return parse_inbound(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "benchmark",
            "type": event_type,
            "time": at.isoformat(),
            "data": data,
        }
    )


def story(customers: int, *, first: int = 0) -> Iterator[InboundEvent]:
    """Per customer: two payments, one failure (credit), one transfer (credit applied);
    customers numbered from ``first``, so that stories never share an id. The second
    payment comes a second after the first: two events of one customer at the very
    same instant are ordered by kind and id, not arrival, so the second is derived
    again with the first (``ledger.timeline``), a cost of its own, not the hot path's."""
    for number in range(first, first + customers):
        customer = f"c{number}@example.it"
        first_paid = _START + timedelta(minutes=number)
        for order, at in (("A", first_paid), ("B", first_paid + timedelta(seconds=1))):
            yield _event(
                f"pay-{order}-{number}",
                "payment.received",
                at,
                order_id=f"{order}{number}",
                customer_id=customer,
                service="hosting",
                amount="120.00",
                currency="EUR",
                paid_at=at.isoformat(),
                method="card",
            )
        failed_at = first_paid + timedelta(days=1)
        yield _event(
            f"fail-{number}",
            "activation.failed",
            failed_at,
            order_id=f"A{number}",
            failed_at=failed_at.isoformat(),
        )
        requested_at = first_paid + timedelta(days=2)
        yield _event(
            f"req-{number}",
            "credit.requested",
            requested_at,
            request_id=f"R{number}",
            customer_id=customer,
            action="transfer",
            channel="online_form",
            requested_at=requested_at.isoformat(),
            new_order={
                "order_id": f"N{number}",
                "amount": "80.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "hosting",
            },
        )


def _per_second(count: int, action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return count / (time.perf_counter() - started)


def bare_commits(engine: Engine, count: int) -> float:
    """Single-row insert transactions per second: the floor of any durable write."""
    scratch = Table("benchmark_scratch", MetaData(), Column("n", Integer, primary_key=True))
    scratch.create(engine, checkfirst=True)

    def run() -> None:
        for number in range(count):
            with engine.begin() as connection:
                connection.execute(scratch.insert().values(n=number))

    rate = _per_second(count, run)
    scratch.drop(engine)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", nargs="?")
    parser.add_argument(
        "--events", type=int, default=2000, help="events to record (×4 per customer)"
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_dir:
        url = arguments.database_url or f"sqlite:///{Path(scratch_dir) / 'bench.sqlite3'}"
        engine = create_database_engine(url)
        upgrade(engine)
        events = list(story(arguments.events // 4))
        ledger = Ledger(engine, Policy())
        baseline = bare_commits(engine, len(events))

        def record_all() -> None:
            for event in events:
                ledger.record(event)

        measured = _per_second(len(events), record_all)
        engine.dispose()
    print(f"backend: {engine.dialect.name}, events: {len(events)}")
    print(f"bare commits/s:   {baseline:10.0f}  (baseline, same run)")
    print(f"ledger events/s:  {measured:10.0f}")
    print(f"cost ratio:       {baseline / measured:10.2f}  bare commits per event")


if __name__ == "__main__":
    main()
