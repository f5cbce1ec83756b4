"""The expiry sweep at scale on PostgreSQL: 200,000 due credits, seeded with set-based
SQL by the benchmark's own seeding (``benchmarks/sweep_scale.py``), swept as one run
whose chunks two workers share. What is checked is the books, never the time: every
credit forfeited once, R11 from the journal, one ``credit.expired`` per credit and one
``sweep.completed`` with the totals. Memory and throughput are the benchmark's to
measure (``benchmarks/sweep_scale.py``), where they are compared across sizes."""

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import Engine, text

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from scheduler.runs import last_runs

DUE_CREDITS = 200_000
WORKERS = 2


def _benchmark() -> ModuleType:
    path = Path(__file__).parents[2] / "benchmarks" / "sweep_scale.py"
    spec = importlib.util.spec_from_file_location("sweep_scale", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sweep_scale", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_database_engine(postgres_url, pool_size=WORKERS + 1)
    upgrade(engine)
    yield engine
    engine.dispose()


def _scalar(engine: Engine, query: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(query)).scalar_one())


def test_a_sweep_over_two_hundred_thousand_due_credits_settles_every_one_once(
    engine: Engine,
) -> None:
    """Seeded, swept by two workers in chunks of 1,000: all forfeited, the books balance,
    one notification per credit and one summary."""
    benchmark = _benchmark()
    benchmark.seed_due_credits(engine, DUE_CREDITS)
    granted = _scalar(engine, "SELECT sum(granted_cents) FROM credits")
    ledger = Ledger(engine, Policy())

    chunks = benchmark.sweep_expiry(ledger, WORKERS)

    assert chunks == DUE_CREDITS // 1_000 + 1
    assert _scalar(engine, "SELECT count(*) FROM credits") == DUE_CREDITS
    assert _scalar(engine, "SELECT count(*) FROM credits WHERE available_cents <> 0") == 0
    assert (
        _scalar(engine, "SELECT count(*) FROM credits WHERE forfeited_cents <> granted_cents") == 0
    )
    assert _scalar(
        engine, "SELECT count(*) FROM journal_entries WHERE kind = 'credit_forfeited'"
    ) == (DUE_CREDITS)
    # R11 from the journal: every entry balances, and per credit the postings agree with
    # the buckets (granted from prepayments, all of it now in breakage, none available).
    unbalanced = """
        SELECT count(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id
                              HAVING sum(amount_cents) <> 0 OR count(*) < 2) AS bad
    """
    assert _scalar(engine, unbalanced) == 0
    disagreeing = """
        SELECT count(*) FROM credits JOIN (
            SELECT credit_id,
                   sum(amount_cents) FILTER (WHERE account = 'order_prepayments') AS granted,
                   -sum(amount_cents) FILTER (WHERE account = 'breakage') AS forfeited,
                   -sum(amount_cents) FILTER (WHERE account = 'credit_available') AS available
            FROM postings WHERE credit_id IS NOT NULL GROUP BY credit_id
        ) AS journal USING (credit_id)
        WHERE journal.granted <> credits.granted_cents
           OR journal.forfeited <> credits.forfeited_cents
           OR journal.available <> credits.available_cents
    """
    assert _scalar(engine, disagreeing) == 0
    negative = """
        SELECT count(*) FROM (SELECT customer_id, account, sum(amount_cents) AS balance
                              FROM postings GROUP BY customer_id, account) AS accounts
        WHERE (account = 'cash' AND balance < 0) OR (account <> 'cash' AND balance > 0)
    """
    assert _scalar(engine, negative) == 0
    assert _scalar(engine, "SELECT count(*) FROM outbox WHERE type = 'credit.expired'") == (
        DUE_CREDITS
    )
    assert _scalar(engine, "SELECT count(DISTINCT notification_id) FROM outbox") == DUE_CREDITS + 1
    (run,) = last_runs(engine)
    assert (run.status, run.counts, run.cents) == (
        "completed",
        {"forfeited": DUE_CREDITS},
        {"forfeited": granted},
    )
    assert _scalar(engine, "SELECT count(*) FROM outbox WHERE type = 'sweep.completed'") == 1
