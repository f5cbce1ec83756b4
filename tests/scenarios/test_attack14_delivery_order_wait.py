"""attack14: what an event waiting for its turn (``workers.delivery_order``) holds.

The wait sits inside the event's unit of work: the transaction is open, a pooled
connection taken, and the context's recorded time read, all before the event waits
for the earlier events it is ordered behind. Each test shows one consequence on
PostgreSQL, the only database the worker orders events on.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scenarios.kit import Books, assert_books_balance, fail, pay, rome
from sqlalchemy import Engine

from ledger.queries import statement
from ledger.service import Recorded
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import InboundEvent
from workers.delivery_order import DeliveryOrder

pytestmark = pytest.mark.reliability

PAID_AT = rome(2026, 3, 2)
CUSTOMER = "c14@example.it"
# Bounds every thread of a test; never reached when the events go as they should.
PATIENCE_S = 30.0


class _TickingClock:
    """A processing clock one second further at each reading: which unit of work read
    it first is then plain in the recorded times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = datetime(2026, 3, 10, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=1)
            return self._now


@contextmanager
def _engine(url: str, **options: Any) -> Iterator[Engine]:
    engine = create_database_engine(url, **options)
    upgrade(engine)
    try:
        yield engine
        assert_books_balance(engine)
    finally:
        engine.dispose()


def _later_event_first(
    books: Books,
    order: DeliveryOrder,
    earlier: InboundEvent,
    later: InboundEvent,
    *,
    earlier_after_s: float = 0.0,
) -> dict[str, Recorded | BaseException]:
    """Tickets in the order (earlier, later); the later event's thread starts first and
    the earlier one's only once the later one is waiting for its turn (and
    ``earlier_after_s`` more): the schedule the delivery order exists for. What became
    of each event, by id."""
    outcomes: dict[str, Recorded | BaseException] = {}
    later_waits = threading.Event()
    # Numbered here, in delivery order; each given back by its event's own thread.
    tickets = [order.ticket(), order.ticket()]
    turns = [ticket.__enter__() for ticket in tickets]

    def run(index: int, event: InboundEvent, signal: threading.Event | None) -> None:
        turn = turns[index]

        def in_turn(subjects: set[str]) -> bool:
            if signal is not None:
                signal.set()
            return turn.wait(subjects)

        try:
            outcomes[event.id] = books.ledger.record(event, in_turn=in_turn).outcome
        except Exception as error:  # what became of it, for the test to read
            outcomes[event.id] = error
        finally:
            tickets[index].__exit__(None, None, None)

    second = threading.Thread(target=run, args=(1, later, later_waits))
    first = threading.Thread(target=run, args=(0, earlier, None))
    second.start()
    assert later_waits.wait(PATIENCE_S)
    threading.Event().wait(earlier_after_s)
    first.start()
    first.join(PATIENCE_S)
    second.join(PATIENCE_S)
    return outcomes


def test_an_event_applied_after_the_one_it_waited_for_is_recorded_after_it(
    postgres_url: str,
) -> None:
    """The failure waits for its order's payment, delivered before it, and is applied
    after it. Recorded before the payment (its clock read before the wait), the books
    "known at" the failure's recorded time hold the credit its failure granted, but not
    the payment that credit came from: books that never were."""
    with _engine(postgres_url, pool_size=4) as engine:
        clock = _TickingClock()
        books = Books(engine, clock=clock)
        earlier = pay("MI14", CUSTOMER, "120.00", PAID_AT, id="pay-MI14")
        later = fail("MI14", PAID_AT + timedelta(days=1), id="fail-MI14")

        outcomes = _later_event_first(books, DeliveryOrder(max_wait_s=PATIENCE_S), earlier, later)

        assert outcomes == {"pay-MI14": Recorded.APPLIED, "fail-MI14": Recorded.APPLIED}
        lines = statement(engine, CUSTOMER)
        failure = max(line.recorded_at for line in lines if line.kind != "order_paid")
        known = statement(engine, CUSTOMER, known_at=failure)
        assert "order_paid" in {line.kind for line in known}, [
            (line.kind, line.recorded_at) for line in lines
        ]


def test_an_event_waiting_for_its_turn_is_not_cut_off_as_idle_in_transaction(
    postgres_url: str,
) -> None:
    """A database that ends sessions idle in a transaction (a common guard against
    leaked transactions) must not fail an event for waiting its turn: the wait is the
    worker's own, and an event about to wait holds nothing it needs."""
    idle_cut_off = {"options": "-c idle_in_transaction_session_timeout=300"}
    with _engine(postgres_url, pool_size=4, connect_args=idle_cut_off) as engine:
        books = Books(engine)
        earlier = pay("MI15", CUSTOMER, "120.00", PAID_AT, id="pay-MI15")
        later = fail("MI15", PAID_AT + timedelta(days=1), id="fail-MI15")
        order = DeliveryOrder(max_wait_s=PATIENCE_S)

        # The earlier event comes to the ledger later than the session may stay idle.
        outcomes = _later_event_first(books, order, earlier, later, earlier_after_s=1.0)

        assert outcomes == {"pay-MI15": Recorded.APPLIED, "fail-MI15": Recorded.APPLIED}


def test_an_event_waiting_for_its_turn_leaves_the_pool_to_the_event_it_waits_for(
    postgres_url: str,
) -> None:
    """More worker threads than the pool has connections (``RESIDUO_WORKER_THREADS``
    above the pool's fifteen): the waiting event must not hold the connection the
    earlier one needs to name its subjects, else both stand still until the wait runs
    out and the events are applied out of order after all (the failure parked)."""
    with _engine(postgres_url, pool_size=1, max_overflow=0, pool_timeout=PATIENCE_S) as engine:
        books = Books(engine)
        earlier = pay("MI16", CUSTOMER, "120.00", PAID_AT, id="pay-MI16")
        later = fail("MI16", PAID_AT + timedelta(days=1), id="fail-MI16")

        outcomes = _later_event_first(books, DeliveryOrder(max_wait_s=10.0), earlier, later)

        assert outcomes == {"pay-MI16": Recorded.APPLIED, "fail-MI16": Recorded.APPLIED}
