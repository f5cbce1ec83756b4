"""An activation names only its order; its customer is read from the books. When the
order's payment commits between that read and the activation's lock on the order (the
CI's four-thread worker found it with the handed ``reference_variants``), the
activation must still be judged against its customer's books, or a request its credit
should have funded stays refused.

The race is made deterministic: the activation's ``in_turn`` (called after its
subjects were read, before its transaction) records the payment and a request of the
same customer, then lets it go ahead with the subjects it read.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from scenarios.kit import Books, account_totals, assert_books_balance, fail, pay, rome, transfer
from sqlalchemy import Engine

from ledger.service import Recorded
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade

pytestmark = pytest.mark.reliability

CUSTOMER = "cust-owner@example.it"


@pytest.fixture
def two_books(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Books, Books]]:
    """The books under test (PostgreSQL), and the same events recorded one by one."""
    engines: list[Engine] = []
    for url in (postgres_url, f"sqlite:///{tmp_path / 'one_by_one.sqlite3'}"):
        engine = create_database_engine(url)
        upgrade(engine)
        engines.append(engine)
    yield Books(engines[0]), Books(engines[1])
    for engine in engines:
        assert_books_balance(engine)
        engine.dispose()


def test_an_activation_whose_payment_commits_before_its_lock_sees_the_customer(
    two_books: tuple[Books, Books],
) -> None:
    books, one_by_one = two_books
    paid = pay("F7", CUSTOMER, "30.00", rome(2025, 3, 1), id="pay-F7")
    failed = fail("F7", rome(2025, 3, 2), id="fail-F7")
    request = transfer("T7", CUSTOMER, "K7", "30.00", rome(2025, 4, 1), id="req-T7")
    seen: list[set[str]] = []

    def meanwhile(subjects: set[str]) -> bool:
        seen.append(set(subjects))
        if len(seen) == 1:
            # No credit yet: the request is refused, until the failure is applied.
            assert books.record(paid, request) == [Recorded.APPLIED, Recorded.REFUSED]
        return False

    outcome = books.ledger.record(failed, in_turn=meanwhile).outcome

    assert seen[0] == {"order:F7"}, "the race was not set up: the owner was known already"
    # Found under the lock, the owner sends the activation round again, owner known.
    assert seen[1:] == [{"order:F7", f"customer:{CUSTOMER}"}]
    assert outcome is Recorded.APPLIED
    one_by_one.record(paid, failed, request)
    assert account_totals(books.engine) == account_totals(one_by_one.engine)
    applied = [each for each in books.standing("credit.applied") if each["request_id"] == "T7"]
    assert len(applied) == 1
