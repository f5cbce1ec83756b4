"""attack8: an expiry sweep and a late event of the same customer at once (PostgreSQL).

A late event derives its component again and compares what it produced with the
entries it read *before* clearing the projections. The expiry sweep takes no subject
lock: when its window has forfeited a credit and not yet committed, the late event
reads the journal without that forfeiture, then waits on the credit row, and, once the
sweep commits, books the forfeiture a second time (the derivation settles expiry up to
the sweep's ``as_of``, already logged). The journal then shows the credit forfeited
twice: ``credit_available`` negative, two ``credit.expired``.

The interleaving is made deterministic without touching the product: a third
connection holds the row lock on the customer's frontier, which the sweep's window
takes last, just before it commits.
"""

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from scenarios.kit import CUSTOMER, Books, assert_books_balance, fail, pay, rome
from sqlalchemy import Engine, text

from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade

pytestmark = pytest.mark.reliability


@pytest.fixture
def books(postgres_url: str) -> Iterator[Books]:
    """A ledger on PostgreSQL with a pool big enough for every thread."""
    engine: Engine = create_database_engine(postgres_url, pool_size=8)
    upgrade(engine)
    yield Books(engine)
    engine.dispose()


def _waiting_on_locks(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT left(query, 60) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalars()
        )


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the interleaving was not reached"
        time.sleep(0.05)


def test_an_expiry_sweep_committing_under_a_late_event_forfeits_the_credit_once(
    books: Books,
) -> None:
    """CR-MI0001 (30.00) expires 2026-01-10 10:00. The sweep of 11 January forfeits it
    while a payment dated 9 January 11:00 arrives after one dated 12:00 (late, within
    the allowed lateness). The credit must be forfeited once."""
    books.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 1, 10)))
    books.record(fail("MI0001", rome(2025, 1, 11)))
    books.record(pay("MI0002", CUSTOMER, "1.00", rome(2026, 1, 9, 12)))

    blocker = books.engine.connect()
    blocker.execute(
        text("SELECT frontier FROM subject_frontiers WHERE subject = :s FOR UPDATE"),
        {"s": f"customer:{CUSTOMER}"},
    )
    sweeper = threading.Thread(
        target=lambda: books.sweep("expiry", rome(2026, 1, 11, 4, 30)), daemon=True
    )
    sweeper.start()
    _until(lambda: len(_waiting_on_locks(books.engine)) == 1)  # the sweep, about to commit
    late = pay("MI0003", CUSTOMER, "1.00", rome(2026, 1, 9, 11))
    worker = threading.Thread(target=lambda: books.record_one(late), daemon=True)
    worker.start()
    _until(lambda: len(_waiting_on_locks(books.engine)) == 2)  # the late event, on the credit
    blocker.rollback()
    blocker.close()
    sweeper.join(30)
    worker.join(30)

    assert [each["forfeited"] for each in books.standing("credit.expired")] == ["30.00"]
    assert_books_balance(books.engine)
