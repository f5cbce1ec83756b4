"""What an event costs the ledger on PostgreSQL: in bare commits, and as the books grow.

``bare_commits``: the time of one event through ``Ledger.record`` (the story of
``ledger_throughput``: payments, failures that make credit, transfers) against one
single-row insert and commit on the same database: the ratio is the event's cost in
bare commits.

``books_growth``: events per second on books that already hold a million orders (with
their payments' journal entries) and a hundred thousand transfers, bulk-loaded with
SQL, against the same events on empty books: the ratio is the fraction of the empty
books' speed kept as history accumulates.
"""

from __future__ import annotations

import itertools
import sys
import time

from sqlalchemy import Column, Engine, Integer, MetaData, Table, text

from benchmarks._kit import Comparison, interleaved
from benchmarks.ledger_throughput import story
from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import InboundEvent

__all__ = ["bare_commits", "books_growth", "prebook"]

_customers = itertools.count(0, 100_000)


def _fresh_story(events: int) -> list[InboundEvent]:
    """``events`` events (four per customer) no earlier story used."""
    return list(story(events // 4, first=next(_customers)))


def _seconds_per_event(ledger: Ledger, events: list[InboundEvent]) -> float:
    started = time.perf_counter()
    for event in events:
        ledger.record(event)
    return (time.perf_counter() - started) / len(events)


def _seconds_per_commit(engine: Engine, count: int) -> float:
    scratch = Table("benchmark_scratch", MetaData(), Column("n", Integer, primary_key=True))
    scratch.create(engine, checkfirst=True)
    started = time.perf_counter()
    for number in range(count):
        with engine.begin() as connection:
            connection.execute(scratch.insert().values(n=number))
    seconds = (time.perf_counter() - started) / count
    scratch.drop(engine)
    return seconds


def bare_commits(url: str, events: int, rounds: int) -> Comparison:
    """Milliseconds per event against milliseconds per bare commit."""
    engine = create_database_engine(url)
    upgrade(engine)
    ledger = Ledger(engine, Policy())
    print("an event in bare commits", file=sys.stderr, flush=True)
    measured, baseline = interleaved(
        rounds,
        lambda _: 1000 * _seconds_per_event(ledger, _fresh_story(events)),
        lambda _: 1000 * _seconds_per_commit(engine, events),
    )
    engine.dispose()
    comparison = Comparison("an event (ratio: bare commits per event)", "a bare commit", "ms")
    comparison.subject, comparison.baseline = measured, baseline
    comparison.notes = {"events_per_round": events, "events_per_second": 1000 / measured.median}
    return comparison


_PREBOOK = (
    """
    INSERT INTO orders (order_id, customer_id, service, amount_cents, paid_at, method,
                        status, activated_at)
    SELECT 'PB' || lpad(i::text, 9, '0'), 'pb-customer-' || (i / 5), 'hosting',
           1000 + i % 9000, TIMESTAMPTZ '2025-06-01' + (i % 200) * interval '1 day',
           'card', 'active', TIMESTAMPTZ '2025-06-02' + (i % 200) * interval '1 day'
    FROM generate_series(1, :orders) AS i
    """,
    """
    WITH paid AS (
        INSERT INTO journal_entries (kind, customer_id, cause, order_id, effective_at,
                                     recorded_at, memo)
        SELECT 'order_paid', customer_id, 'prebooked-' || order_id, order_id, paid_at, now(),
               'payment for order ' || order_id
        FROM orders
        RETURNING entry_id, customer_id, order_id
    )
    INSERT INTO postings (entry_id, account, customer_id, credit_id, amount_cents)
    SELECT paid.entry_id, line.account, paid.customer_id, NULL, line.sign * orders.amount_cents
    FROM paid JOIN orders USING (order_id)
    CROSS JOIN (VALUES ('cash', 1), ('order_prepayments', -1)) AS line (account, sign)
    """,
    """
    INSERT INTO credit_requests (request_id, customer_id, action, channel, requested_at,
                                 outcome)
    SELECT 'PT-' || lpad(i::text, 9, '0'), 'pb-customer-' || (i / 5), 'transfer',
           'online_form', TIMESTAMPTZ '2025-08-01' + (i % 200) * interval '1 day', 'applied'
    FROM generate_series(1, :transfers) AS i
    """,
    """
    INSERT INTO transfers (request_id, order_id, customer_id, order_amount_cents,
                           credit_cents, status, requested_at, settled_at)
    SELECT request_id, 'PTO' || substr(request_id, 4), customer_id, 5000, 5000, 'covered',
           requested_at, requested_at
    FROM credit_requests
    """,
)


def prebook(engine: Engine, orders: int, transfers: int) -> None:
    """Load ``orders`` active orders with their payments' entries and ``transfers``
    covered transfers, with SQL; statistics refreshed for the planner."""
    with engine.begin() as connection:
        for statement in _PREBOOK:
            connection.execute(text(statement), {"orders": orders, "transfers": transfers})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def books_growth(
    empty_url: str, full_url: str, events: int, rounds: int, *, orders: int, transfers: int
) -> Comparison:
    """Events per second on pre-booked books against the same on empty books."""
    engines = {url: create_database_engine(url) for url in (empty_url, full_url)}
    for engine in engines.values():
        upgrade(engine)
    print(f"pre-booking {orders:,} orders and {transfers:,} transfers", file=sys.stderr)
    started = time.perf_counter()
    prebook(engines[full_url], orders, transfers)
    loaded_s = time.perf_counter() - started
    ledgers = {url: Ledger(engine, Policy()) for url, engine in engines.items()}
    tracked = _reset_statements(engines[full_url])
    print("events/s as the books grow", file=sys.stderr, flush=True)
    measured, baseline = interleaved(
        rounds,
        lambda _: 1 / _seconds_per_event(ledgers[full_url], _fresh_story(events)),
        lambda _: 1 / _seconds_per_event(ledgers[empty_url], _fresh_story(events)),
    )
    slowest = _slowest_statements(engines[full_url]) if tracked else []
    for engine in engines.values():
        engine.dispose()
    comparison = Comparison(
        f"events/s with {orders:,} orders and {transfers:,} transfers booked",
        "empty books",
        "events/s",
    )
    comparison.subject, comparison.baseline = measured, baseline
    comparison.notes = {
        "events_per_round": events,
        "prebook_seconds": loaded_s,
        "slowest_statements_on_full_books": slowest,
    }
    return comparison


def _reset_statements(engine: Engine) -> bool:
    """Reset pg_stat_statements, when the server has it; whether it does."""
    with engine.connect() as connection:
        loaded = connection.execute(
            text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
        ).scalar_one()
        if loaded:
            connection.execute(text("SELECT pg_stat_statements_reset()"))
            connection.commit()
    return bool(loaded)


def _slowest_statements(engine: Engine) -> list[dict[str, object]]:
    """The statements with the most execution time on the pre-booked books: where the
    time goes as history accumulates."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT query, calls, mean_exec_time, total_exec_time FROM pg_stat_statements"
                " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " ORDER BY total_exec_time DESC LIMIT 6"
            )
        ).all()
    return [
        {
            "query": " ".join(str(row.query).split())[:200],
            "calls": int(row.calls),
            "mean_ms": round(float(row.mean_exec_time), 3),
        }
        for row in rows
    ]
