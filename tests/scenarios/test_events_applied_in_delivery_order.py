"""A worker's threads apply the events of one customer in the order they took them
(``workers.delivery_order``), on PostgreSQL, where those threads run side by side.

Each test gives the tickets in delivery order, then starts the later events' threads
first: without the tickets, the later event would be applied first (a failure
parked before its payment, a payment derived again behind its customer's failure).
"""

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from scenarios.kit import Books, assert_books_balance, fail, pay, rome
from sqlalchemy import Engine, select

from ledger.service import Recorded
from ledger.store import schema
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import InboundEvent
from workers.delivery_order import DeliveryOrder

pytestmark = pytest.mark.reliability

# How long a thread started first may take to apply its event (with no tickets) or
# reach its turn (with them) before the next thread starts: the outcome with tickets
# never depends on it being enough, only whether the test shows anything.
HEAD_START_S = 1.0
PAID_AT = rome(2026, 3, 2)


@pytest.fixture
def books(postgres_url: str) -> Iterator[Books]:
    engine: Engine = create_database_engine(postgres_url, pool_size=8)
    upgrade(engine)
    yield Books(engine)
    assert_books_balance(engine)
    engine.dispose()


def _deliver(
    books: Books, events: list[InboundEvent], start_order: list[int], order: DeliveryOrder | None
) -> dict[str, Recorded]:
    """Tickets in the order of ``events``; threads started in ``start_order``, each
    once the one before has finished or had its head start; what became of each
    event, by id."""
    outcomes: dict[str, Recorded] = {}
    tickets = [order.ticket() if order else None for _ in events]
    turns = [ticket.__enter__() if ticket else None for ticket in tickets]

    def apply(index: int) -> Callable[[], None]:
        def run() -> None:
            turn, ticket = turns[index], tickets[index]
            try:
                recording = books.ledger.record(events[index], in_turn=turn.wait if turn else None)
                outcomes[events[index].id] = recording.outcome
            finally:
                if ticket is not None:
                    ticket.__exit__(None, None, None)

        return run

    threads = [threading.Thread(target=apply(index)) for index in range(len(events))]
    for index in start_order:
        threads[index].start()
        threads[index].join(HEAD_START_S)
    for thread in threads:
        thread.join(30)
    return outcomes


def _entry_causes(engine: Engine) -> list[str]:
    entries = schema.journal_entries.c
    with engine.connect() as connection:
        return list(connection.execute(select(entries.cause).order_by(entries.entry_id)).scalars())


def test_a_failure_delivered_after_its_payment_is_applied_after_it(books: Books) -> None:
    events = [
        pay("MI1", "c1@example.it", "120.00", PAID_AT, id="pay-MI1"),
        fail("MI1", PAID_AT + timedelta(days=1), id="fail-MI1"),
    ]

    outcomes = _deliver(books, events, start_order=[1, 0], order=DeliveryOrder())

    # Never parked: the payment it waited for was there when it came.
    assert outcomes == {"pay-MI1": Recorded.APPLIED, "fail-MI1": Recorded.APPLIED}
    assert len(books.data("credit.granted")) == 1


def test_without_tickets_the_same_schedule_parks_the_failure(books: Books) -> None:
    """The control: the schedule above does reorder the events when nothing orders them."""
    events = [
        pay("MI2", "c2@example.it", "120.00", PAID_AT, id="pay-MI2"),
        fail("MI2", PAID_AT + timedelta(days=1), id="fail-MI2"),
    ]

    outcomes = _deliver(books, events, start_order=[1, 0], order=None)

    assert outcomes == {"pay-MI2": Recorded.APPLIED, "fail-MI2": Recorded.PARKED}
    assert len(books.data("credit.granted")) == 1


def test_the_owner_an_earlier_payment_reveals_is_waited_for_too(books: Books) -> None:
    """The failure names only its order. Once the order's payment is booked, its
    customer is a subject too, and the failure waits for the customer's second payment,
    delivered before it: applied first, the failure would make that payment late."""
    customer = "c3@example.it"
    events = [
        pay("MI3A", customer, "120.00", PAID_AT, id="pay-MI3A"),
        pay("MI3B", customer, "80.00", PAID_AT + timedelta(seconds=1), id="pay-MI3B"),
        fail("MI3A", PAID_AT + timedelta(days=1), id="fail-MI3A"),
    ]

    outcomes = _deliver(books, events, start_order=[2, 0, 1], order=DeliveryOrder())

    assert set(outcomes.values()) == {Recorded.APPLIED}
    causes = _entry_causes(books.engine)
    paid_b = next(index for index, cause in enumerate(causes) if "pay-MI3B" in cause)
    failed = next(index for index, cause in enumerate(causes) if "fail-MI3A" in cause)
    assert paid_b < failed, causes
    # Applied in order: nothing was derived again, so nothing was reversed.
    with books.engine.connect() as connection:
        reversals = connection.execute(
            select(schema.journal_entries.c.entry_id).where(
                schema.journal_entries.c.reverses_entry_id.is_not(None)
            )
        ).all()
    assert reversals == []
