"""Workers run side by side on PostgreSQL: concurrent deliveries never overspend credit
and never apply an event twice. Race safety comes from the database (constraints,
row and advisory locks), so these run against a real server, threads started
together at a barrier."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from threading import Barrier
from typing import TypeVar

import pytest
from scenarios.kit import (
    CUSTOMER,
    Books,
    assert_books_balance,
    fail,
    pay,
    refund,
    rome,
    topup,
    transfer,
)
from sqlalchemy import Engine

from ledger.service import Recorded
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade

pytestmark = pytest.mark.reliability

T = TypeVar("T")
ROUNDS = 4


@pytest.fixture
def books(postgres_url: str) -> Iterator[Books]:
    """A ledger on PostgreSQL with a pool big enough for every thread."""
    engine: Engine = create_database_engine(postgres_url, pool_size=8)
    upgrade(engine)
    yield Books(engine)
    assert_books_balance(engine)
    engine.dispose()


def together(*calls: Callable[[], T]) -> list[T]:
    """Run the calls in threads released at the same instant; their results in order."""
    barrier = Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_transfers_at_once_never_overspend(books: Books) -> None:
    """100.00 of credit, two orders of 80.00 asked at the same instant: one is covered,
    the other gets only what is left (held, 60.00 due); no bucket goes negative."""
    for round_ in range(ROUNDS):
        customer = f"{round_}-{CUSTOMER}"
        books.record(
            pay(f"MI{round_}01", customer, "100.00", rome(2026, 1, 10)),
            fail(f"MI{round_}01", rome(2026, 1, 11)),
        )
        first = transfer(f"R{round_}A", customer, f"MI{round_}A", "80.00", rome(2026, 2, 1))
        second = transfer(f"R{round_}B", customer, f"MI{round_}B", "80.00", rome(2026, 2, 1))

        outcomes = together(partial(books.record_one, first), partial(books.record_one, second))

        assert outcomes == [Recorded.APPLIED, Recorded.APPLIED]
        # At the same instant, the request id decides which came first: if the other
        # was applied first, its outcome is reconsidered (voided and told anew).
        applied = [
            each for each in books.standing("credit.applied") if each["customer_id"] == customer
        ]
        due = [each for each in books.standing("topup.required") if each["customer_id"] == customer]
        assert (len(applied), len(due)) == (1, 1)
        held = due[0]
        assert (held["held"], held["amount_due"]) == ("20.00", "60.00")
        credit = books.credit(f"CR-MI{round_}01")
        assert (credit["available"], credit["used"], credit["held"]) == (0, 8000, 2000)
    assert_books_balance(books.engine)


def test_a_transfer_and_a_refund_at_once_never_spend_the_same_credit(books: Books) -> None:
    """SPID credit asked for by a transfer and a refund together: one wins it whole."""
    for round_ in range(ROUNDS):
        customer = f"{round_}-{CUSTOMER}"
        books.record(pay(f"SP{round_}", customer, "49.90", rome(2026, 1, 10), service="spid"))
        books.sweep("spid_timeout", rome(2026, 4, 10, 10))
        spend = transfer(f"R{round_}A", customer, f"MI{round_}A", "49.90", rome(2026, 5, 1))
        give_back = refund(f"R{round_}B", customer, rome(2026, 5, 1))

        together(partial(books.record_one, spend), partial(books.record_one, give_back))

        credit = books.credit(f"CR-SP{round_}")
        assert credit["available"] == 0
        assert sorted((credit["used"], credit["refunded"])) == [0, 4990]
        rejected = [
            each for each in books.standing("request.rejected") if each["customer_id"] == customer
        ]
        assert [each["reason"] for each in rejected] == ["no_credit"]


def test_the_same_event_delivered_twice_at_once_applies_once(books: Books) -> None:
    """Two workers handed the same failure event: one applies it, one sees a duplicate."""
    for round_ in range(ROUNDS):
        order = f"MI{round_}01"
        books.record(pay(order, CUSTOMER, "100.00", rome(2026, 1, 10)))
        failure = fail(order, rome(2026, 1, 11))

        outcomes = together(partial(books.record_one, failure), partial(books.record_one, failure))

        assert sorted(outcomes) == sorted([Recorded.APPLIED, Recorded.DUPLICATE])
        assert books.credit(f"CR-{order}")["granted"] == 10000
    assert len(books.data("credit.granted")) == ROUNDS


def test_two_failure_events_for_one_order_at_once_make_one_credit(books: Books) -> None:
    """Different event ids, same order, concurrently: still one credit (R1)."""
    for round_ in range(ROUNDS):
        order = f"MI{round_}01"
        books.record(pay(order, CUSTOMER, "100.00", rome(2026, 1, 10)))
        first, second = fail(order, rome(2026, 1, 11)), fail(order, rome(2026, 1, 11, 11))

        together(partial(books.record_one, first), partial(books.record_one, second))

        assert books.credit(f"CR-{order}")["granted"] == 10000
    # The later failure may have come first: its grant was then voided for the earlier.
    assert len(books.standing("credit.granted")) == ROUNDS


def test_a_payment_and_its_early_failure_at_once_make_one_credit(books: Books) -> None:
    """The failure racing its own payment is either parked then applied, or applied."""
    for round_ in range(ROUNDS):
        order = f"MI{round_}01"
        payment, failure = (
            pay(order, CUSTOMER, "100.00", rome(2026, 1, 10)),
            fail(order, rome(2026, 1, 11)),
        )

        together(partial(books.record_one, payment), partial(books.record_one, failure))

        assert books.credit(f"CR-{order}")["granted"] == 10000
    assert len(books.data("credit.granted")) == ROUNDS


def test_a_topup_racing_the_hold_sweep_funds_the_order(books: Books) -> None:
    """The difference paid at the last minute while the sweep releases the hold: the
    payment was in time, so the order is funded, whichever commits first (a release
    the sweep wrote first is voided); never both, and the money is never lost."""
    for round_ in range(ROUNDS):
        customer = f"{round_}-{CUSTOMER}"
        books.record(
            pay(f"MI{round_}01", customer, "100.00", rome(2026, 1, 10)),
            fail(f"MI{round_}01", rome(2026, 1, 11)),
            transfer(f"R{round_}", customer, f"MI{round_}X", "150.00", rome(2026, 5, 1)),
        )
        payment = topup(f"MI{round_}X", customer, "50.00", rome(2026, 5, 31, 9, 59))

        together(
            partial(books.record_one, payment), partial(books.sweep, "holds", rome(2026, 5, 31, 10))
        )

        funded = [
            each for each in books.standing("order.funded") if each["customer_id"] == customer
        ]
        released = [
            each for each in books.standing("hold.released") if each["customer_id"] == customer
        ]
        unmatched = [
            each for each in books.standing("payment.unmatched") if each["customer_id"] == customer
        ]
        assert (len(funded), len(released), len(unmatched)) == (1, 0, 0)
