"""How the expiry sweep scales: throughput, and memory that stays flat.

Seeds N due credits on PostgreSQL with set-based SQL (orders, credits, and the
journal entries that paid and granted them, so the books balance), then runs the
expiry sweep as the scheduler has workers run it: one run, cut into chunks, settled
by ``--workers`` threads. Each size is measured in a fresh interpreter, so its RSS
high-water mark is its own; the Python peak (tracemalloc) is taken in a second run
of the same size, because tracing slows the sweep. The report compares the full size
against a baseline of N/10 in the same invocation: memory that stays flat shows as a
ratio near 1, and so does throughput that holds up.

    uv run python benchmarks/sweep_scale.py --url postgresql://… [--n 200000]

The URL may also come from ``RESIDUO_BENCH_DATABASE_URL``. Every table of the
database is emptied first: give it a database of its own.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from ledger.store.schema import metadata

__all__ = ["AS_OF", "BUSINESS_DATE", "measure", "seed_due_credits", "sweep_expiry"]

BUSINESS_DATE = date(2027, 3, 1)
AS_OF = datetime(2027, 3, 1, 3, 30, tzinfo=UTC)
_PAID_AT = datetime(2026, 1, 10, 8, 30, tzinfo=UTC)
_FAILED_AT = _PAID_AT + timedelta(days=1)
_EXPIRES_AT = datetime(2027, 1, 10, 8, 30, tzinfo=UTC)
_CREDITS_PER_CUSTOMER = 10

_SEED = (
    """
    INSERT INTO orders (order_id, customer_id, service, amount_cents, paid_at, method,
                        status, failed_at)
    SELECT 'BM' || lpad(i::text, 9, '0'), 'customer-' || (i / :per_customer), 'hosting',
           1000 + i % 9000, :paid_at, 'card', 'failed', :failed_at
    FROM generate_series(1, :n) AS i
    """,
    """
    INSERT INTO credits (credit_id, customer_id, origin, source_order_id, refundable,
                         granted_at, expires_at, granted_cents, available_cents)
    SELECT 'CR-' || order_id, customer_id, 'activation_failed', order_id, false,
           failed_at, :expires_at + (amount_cents % 1440) * interval '1 minute',
           amount_cents, amount_cents
    FROM orders
    """,
    """
    WITH paid AS (
        INSERT INTO journal_entries (kind, customer_id, cause, order_id, effective_at,
                                     recorded_at, memo)
        SELECT 'order_paid', customer_id, 'seed-' || order_id, order_id, paid_at, now(),
               'payment for order ' || order_id
        FROM orders
        RETURNING entry_id, customer_id, order_id
    )
    INSERT INTO postings (entry_id, account, customer_id, credit_id, amount_cents)
    SELECT paid.entry_id, line.account, paid.customer_id, NULL,
           line.sign * orders.amount_cents
    FROM paid JOIN orders USING (order_id)
    CROSS JOIN (VALUES ('cash', 1), ('order_prepayments', -1)) AS line (account, sign)
    """,
    """
    WITH granted AS (
        INSERT INTO journal_entries (kind, customer_id, cause, order_id, credit_id,
                                     effective_at, recorded_at, memo)
        SELECT 'credit_granted', customer_id, 'seed-' || credit_id, source_order_id,
               credit_id, granted_at, now(), 'credit from order ' || source_order_id
        FROM credits
        RETURNING entry_id, customer_id, credit_id
    )
    INSERT INTO postings (entry_id, account, customer_id, credit_id, amount_cents)
    SELECT granted.entry_id, line.account, granted.customer_id, granted.credit_id,
           line.sign * credits.granted_cents
    FROM granted JOIN credits USING (credit_id)
    CROSS JOIN (VALUES ('order_prepayments', 1), ('credit_available', -1))
        AS line (account, sign)
    """,
)


def seed_due_credits(engine: Engine, n: int) -> None:
    """Empty every table, then make ``n`` activation-failure credits, all expired by
    ``AS_OF``, their journal included; statistics refreshed for the planner."""
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        for statement in _SEED:
            connection.execute(
                text(statement),
                {
                    "n": n,
                    "per_customer": _CREDITS_PER_CUSTOMER,
                    "paid_at": _PAID_AT,
                    "failed_at": _FAILED_AT,
                    "expires_at": _EXPIRES_AT,
                },
            )
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def sweep_expiry(ledger: Ledger, workers: int) -> int:
    """The scheduled expiry run of ``BUSINESS_DATE``: started once, its chunks settled by
    ``workers`` threads as worker processes would; how many chunks it had."""
    chunks = ledger.start_sweep_run("expiry", BUSINESS_DATE, AS_OF)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(
            pool.map(
                lambda chunk: ledger.settle_sweep_chunk("expiry", BUSINESS_DATE, chunk), chunks
            )
        )
    return len(chunks)


def measure(url: str, n: int, workers: int, chunk_size: int, *, trace: bool) -> dict[str, Any]:
    """Seed ``n`` credits and sweep them: the time and RSS high-water mark, or, when
    ``trace``, the Python peak (tracemalloc slows the sweep, so never both at once)."""
    engine = create_database_engine(url, pool_size=workers + 1)
    upgrade(engine)
    seed_due_credits(engine, n)
    ledger = Ledger(engine, Policy(), sweep_chunk_size=chunk_size)
    if trace:
        tracemalloc.start()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    chunks = sweep_expiry(ledger, workers)
    elapsed = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine.dispose()
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"tracemalloc_peak_mib": round(peak / 2**20, 1)}
    return {
        "n": n,
        "chunks": chunks,
        "seconds": round(elapsed, 1),
        "credits_per_second": round(n / elapsed),
        "rss_high_water_mib": round(rss_after / 1024, 1),
        "rss_growth_during_sweep_mib": round((rss_after - rss_before) / 1024, 1),
    }


def _measure_in_child(url: str, n: int, workers: int, chunk_size: int) -> dict[str, Any]:
    """Both measurements of one size, each in a fresh interpreter of its own."""
    measured: dict[str, Any] = {}
    for mode in ("--plain", "--trace"):
        command = [sys.executable, __file__, "--url", url, "--n", str(n)]
        command += ["--workers", str(workers), "--chunk-size", str(chunk_size), mode]
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        measured |= json.loads(result.stdout)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("RESIDUO_BENCH_DATABASE_URL"))
    parser.add_argument("--n", type=int, default=200_000, help="due credits (default 200000)")
    parser.add_argument("--workers", type=int, default=2, help="threads settling chunks")
    parser.add_argument("--chunk-size", type=int, default=1_000)
    child = parser.add_mutually_exclusive_group()
    child.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    child.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if not arguments.url:
        parser.error("give --url or RESIDUO_BENCH_DATABASE_URL (a PostgreSQL database)")
    shape = (arguments.workers, arguments.chunk_size)
    if arguments.plain or arguments.trace:
        measured = measure(arguments.url, arguments.n, *shape, trace=arguments.trace)
        print(json.dumps(measured))
        return
    baseline = _measure_in_child(arguments.url, max(arguments.n // 10, 1), *shape)
    full = _measure_in_child(arguments.url, arguments.n, *shape)
    ratios = {
        key: round(full[key] / baseline[key], 2)
        for key in ("tracemalloc_peak_mib", "rss_high_water_mib", "credits_per_second")
        if baseline[key]
    }
    print(json.dumps({"baseline": baseline, "full": full, "full_over_baseline": ratios}, indent=2))


if __name__ == "__main__":
    main()
