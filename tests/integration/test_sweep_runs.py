"""A scheduled sweep run on PostgreSQL: cut into chunks, shared by workers, settled once.

A run message fans out into chunk messages through the real actors; chunks settled by
several workers at once, or delivered twice, settle once; a worker killed in the
middle of a chunk leaves nothing behind, and the resumed run doubles nothing."""

from __future__ import annotations

import os
import select as selectors
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from scenarios.kit import Books, assert_books_balance, fail, journal_of, pay, rome
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store import schema
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from ledger.store.uow import UnitOfWork
from scheduler.plan import DueRun
from scheduler.runs import claim, last_runs
from workers.actors import declare_actors
from workers.broker import create_broker
from workers.embedded import EmbeddedWorker
from workers.middleware import BindLogContext, RejectInvalidEvents

RUN_DATE = date(2027, 3, 1)
AS_OF = rome(2027, 3, 1, 4, 30)
CREDITS = 23
CHUNK = 5


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    """A migrated database holding ``CREDITS`` expired credits of 10.00 to 32.00."""
    engine = create_database_engine(postgres_url, pool_size=8)
    upgrade(engine)
    books = Books(engine)
    for number in range(CREDITS):
        paid_at = rome(2026, 1, 10, 9) + timedelta(hours=number)
        order = f"MI{number:04d}"
        books.record(
            pay(order, f"customer-{number % 4}", f"{10 + number}.00", paid_at),
            fail(order, paid_at + timedelta(days=1)),
        )
    yield engine
    assert_books_balance(engine)
    engine.dispose()


def ledger_for(engine: Engine) -> Ledger:
    return Ledger(engine, Policy(), sweep_chunk_size=CHUNK)


def forfeited_once(engine: Engine) -> None:
    """Every credit forfeited whole, one entry and one credit.expired each, and one
    sweep.completed whose totals count them all."""
    with engine.connect() as connection:
        credits = connection.execute(select(schema.credits)).all()
        types = list(connection.execute(select(schema.outbox.c.type)).scalars())
    assert {(row.available_cents, row.forfeited_cents) for row in credits} == {
        (0, row.granted_cents) for row in credits
    }
    forfeits = [entry for entry in journal_of(engine) if entry[0] == "credit_forfeited"]
    assert len(forfeits) == CREDITS
    assert types.count("credit.expired") == CREDITS
    assert types.count("sweep.completed") == 1
    (run,) = last_runs(engine)
    total = sum(row.granted_cents for row in credits)
    assert (run.status, run.counts, run.cents) == (
        "completed",
        {"forfeited": CREDITS},
        {"forfeited": total},
    )


def test_a_run_message_fans_out_into_chunks_through_the_actors(engine: Engine) -> None:
    """The scheduler's message starts the run, the worker sends one chunk message per
    five credits on the sweeps queue and settles them; the same message sent again by
    hand, and a chunk message sent again, find the work done."""
    ledger = ledger_for(engine)
    broker = create_broker(
        "memory", middleware=[BindLogContext(), RejectInvalidEvents(ledger=ledger)]
    )
    assert isinstance(broker, StubBroker)
    actors = declare_actors(broker, ledger)
    assert claim(engine, DueRun(RUN_DATE, 2, "expiry", AS_OF), now=AS_OF)
    message = actors.run_message("expiry", RUN_DATE, AS_OF)
    with EmbeddedWorker(broker) as worker:
        assert worker.deliver(message).status == "processed"
        forfeited_once(engine)
        books = journal_of(engine)

        again = actors.run_message("expiry", RUN_DATE, AS_OF)
        chunk = actors.sweep_chunk.message("expiry", RUN_DATE.isoformat(), 0)
        assert [worker.deliver(each).status for each in (again, chunk)] == ["processed"] * 2

    assert journal_of(engine) == books
    forfeited_once(engine)
    (run,) = last_runs(engine)
    assert (run.chunks_total, run.chunks_done) == (5, 5)
    broker.close()


def test_a_run_message_the_scheduler_did_not_claim_is_refused(engine: Engine) -> None:
    """A message for 1 March sent by hand at 02:00, and one for 2 March whose run time has
    not come, are refused and dead-lettered with an error logged: neither claims a run,
    so the scheduler's run of 1 March, at 04:30, still forfeits a credit expiring at
    03:00 that day."""
    Books(engine).record(
        pay("MI9999", "customer-9", "9.00", rome(2026, 3, 1, 3)),
        fail("MI9999", rome(2026, 3, 2, 3)),
    )
    ledger = ledger_for(engine)
    broker = create_broker(
        "memory", middleware=[BindLogContext(), RejectInvalidEvents(ledger=ledger)]
    )
    assert isinstance(broker, StubBroker)
    actors = declare_actors(broker, ledger)
    early = actors.run_message("expiry", RUN_DATE, rome(2027, 3, 1, 2))
    tomorrow = actors.run_message("expiry", date(2027, 3, 2), rome(2027, 3, 2, 4, 30))
    with EmbeddedWorker(broker) as worker, capture_logs() as logs:
        refused = [worker.deliver(each) for each in (early, tomorrow)]
        assert last_runs(engine) == []

        assert claim(engine, DueRun(RUN_DATE, 2, "expiry", AS_OF), now=AS_OF)
        scheduled = worker.deliver(actors.run_message("expiry", RUN_DATE, AS_OF))
    broker.close()

    assert [each.status for each in refused] == ["failed", "failed"]
    errors = [log for log in logs if log["event"] == "sweep run refused"]
    assert [(log["log_level"], log["business_date"]) for log in errors] == [
        ("error", "2027-03-01"),
        ("error", "2027-03-02"),
    ]
    assert all(log["problem"].startswith("no scheduled run of expiry") for log in errors)
    assert scheduled.status == "processed"
    (run,) = last_runs(engine)
    assert (run.business_date, run.as_of, run.status) == (RUN_DATE, AS_OF, "completed")
    assert run.counts == {"forfeited": CREDITS + 1}
    assert Books(engine).credit("CR-MI9999")["forfeited"] == 900


def test_a_run_message_with_another_as_of_than_its_claim_is_refused(engine: Engine) -> None:
    """The run of 1 March was claimed at 04:30: a message saying 05:00 is refused and
    leaves the run as claimed; the message at 04:30 runs it."""
    ledger = ledger_for(engine)
    broker = create_broker(
        "memory", middleware=[BindLogContext(), RejectInvalidEvents(ledger=ledger)]
    )
    assert isinstance(broker, StubBroker)
    actors = declare_actors(broker, ledger)
    assert claim(engine, DueRun(RUN_DATE, 2, "expiry", AS_OF), now=AS_OF)
    with EmbeddedWorker(broker) as worker, capture_logs() as logs:
        late = worker.deliver(actors.run_message("expiry", RUN_DATE, rome(2027, 3, 1, 5)))
        (run,) = last_runs(engine)
        assert (run.status, run.chunks_total) == ("claimed", 0)
        scheduled = worker.deliver(actors.run_message("expiry", RUN_DATE, AS_OF))
    broker.close()

    assert late.status == "failed"
    (error,) = [log for log in logs if log["event"] == "sweep run refused"]
    assert error["problem"] == (
        "the run of expiry for 2027-03-01 is at 2027-03-01T03:30:00+00:00, "
        "not at 2027-03-01T05:00:00+01:00"
    )
    assert scheduled.status == "processed"
    forfeited_once(engine)


def test_workers_share_a_run_and_each_chunk_settles_once(engine: Engine) -> None:
    """Four workers settle the chunks at once, every chunk handed to two of them: each
    chunk settles once and the run completes once."""
    ledger = ledger_for(engine)
    chunks = ledger.start_sweep_run("expiry", RUN_DATE, AS_OF)
    deliveries = [chunk for chunk in chunks for _ in range(2)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(
            pool.map(lambda chunk: ledger.settle_sweep_chunk("expiry", RUN_DATE, chunk), deliveries)
        )

    assert sum(outcome.settled for outcome in outcomes) == len(chunks)
    assert sum(outcome.run_completed for outcome in outcomes) == 1
    forfeited_once(engine)


def test_a_worker_killed_halfway_through_a_run_resumes_without_doubling(
    engine: Engine, postgres_url: str, tmp_path: Path
) -> None:
    """A worker process settles two chunks, writes the third and is killed (SIGKILL)
    before it commits: the third left no trace; the run message delivered again hands
    back the chunks still pending, and settling them, with the first two delivered
    again for good measure, forfeits every credit exactly once."""
    worker = _start_worker_that_stalls(postgres_url, tmp_path, stall_at_commit=4)
    try:
        _wait_for_line(worker, "stalled")
        (run,) = last_runs(engine)
        assert (run.status, run.chunks_done) == ("running", 2)
        with engine.connect() as connection:
            forfeited = connection.execute(
                select(schema.credits.c.credit_id).where(schema.credits.c.forfeited_cents > 0)
            ).all()
        assert len(forfeited) == 2 * CHUNK
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()

    ledger = ledger_for(engine)
    pending = ledger.start_sweep_run("expiry", RUN_DATE, AS_OF)
    assert pending == [2, 3, 4]
    for chunk in [0, 1, *pending]:
        ledger.settle_sweep_chunk("expiry", RUN_DATE, chunk)
    forfeited_once(engine)


def test_a_sweep_by_hand_that_died_halfway_is_simply_run_again(engine: Engine) -> None:
    """``Ledger.sweep`` commits a window at a time: one that fails halfway keeps what it
    committed, and running it again settles the rest, nothing twice."""
    ledger = ledger_for(engine)
    commit = UnitOfWork.commit
    commits = 0

    def failing_commit(self: UnitOfWork) -> None:
        nonlocal commits
        commits += 1
        if commits == 3:
            raise ConnectionError("worker lost its database")
        commit(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(UnitOfWork, "commit", failing_commit)
        with pytest.raises(ConnectionError):
            ledger.sweep("expiry", AS_OF)
    tally = ledger.sweep("expiry", AS_OF)

    assert tally["expiry"].counts == {"forfeited": CREDITS - 2 * CHUNK}
    forfeits = [entry for entry in journal_of(engine) if entry[0] == "credit_forfeited"]
    assert len(forfeits) == CREDITS
    with engine.connect() as connection:
        assert (
            connection.execute(
                select(schema.credits.c.credit_id).where(schema.credits.c.available_cents > 0)
            ).all()
            == []
        )


_STALLING_WORKER = """
import sys
from datetime import date, datetime

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from ledger.store.uow import UnitOfWork

url, stall_at, chunk_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
commit = UnitOfWork.commit
commits = 0


def stalling_commit(self):
    global commits
    commits += 1
    if commits == stall_at:
        print("stalled", flush=True)
        sys.stdin.readline()
    commit(self)


UnitOfWork.commit = stalling_commit
ledger = Ledger(create_database_engine(url), Policy(), sweep_chunk_size=chunk_size)
run_date, as_of = date.fromisoformat(sys.argv[4]), datetime.fromisoformat(sys.argv[5])
for chunk in ledger.start_sweep_run("expiry", run_date, as_of):
    ledger.settle_sweep_chunk("expiry", run_date, chunk)
"""


def _start_worker_that_stalls(url: str, tmp_path: Path, *, stall_at_commit: int) -> Any:
    """A worker process that starts the run (commit 1), settles chunks, and stops before
    commit ``stall_at_commit`` with that chunk written but not committed."""
    script = tmp_path / "stalling_worker.py"
    script.write_text(textwrap.dedent(_STALLING_WORKER))
    arguments = [url, str(stall_at_commit), str(CHUNK), RUN_DATE.isoformat(), AS_OF.isoformat()]
    return subprocess.Popen(
        [sys.executable, str(script), *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def _wait_for_line(process: Any, expected: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = selectors.select([process.stdout], [], [], 1)
        if ready:
            line = process.stdout.readline()
            assert line, f"the worker exited ({process.poll()}) before saying {expected!r}"
            if line.strip() == expected:
                return
    raise AssertionError(f"the worker never said {expected!r}")
