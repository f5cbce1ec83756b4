"""attack8: history from before migration 0005 that the backfill does not mark.

0005 marks as not derivable again the customers with journal entries and the orders
with an ``orders`` row. An event parked before 0005 (an ``activation.failed`` waiting
for its payment) has neither: its order and its customer look new. When its payment
comes, the parked failure is applied (a credit is granted), but it was never filed
under any subject (``event_subjects`` did not exist), so the next derivation of the
customer's books does not replay it: the credit is reversed and ``credit.granted``
voided, the failure forgotten.

The database is made as pre-0005 code left it: migrated to ``0004_poison`` and the
parked event written as that code wrote it, then upgraded.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from scenarios.kit import CUSTOMER, Books, assert_books_balance, fail, pay, rome, transfer
from sqlalchemy import Engine, text

from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def before_0005(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database at the revision before late evidence."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'residuo.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_database_engine(url)
    upgrade(engine, "0004_poison")
    yield engine
    engine.dispose()


def test_a_failure_parked_before_0005_is_not_forgotten_by_a_later_correction(
    before_0005: Engine,
) -> None:
    """Parked before the upgrade: the failure of MI0001 (30.00). After it: its payment,
    another order, then a payment of 14 January delivered after one of the 15th (late,
    within the allowed lateness). CR-MI0001 must survive the correction."""
    parked = fail("MI0001", rome(2026, 1, 11), id="evt-legacy-fail")
    with before_0005.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO inbox (event_id, event_type, status, order_id, business_time,"
                " payload, received_at, body_sha256)"
                " VALUES (:id, 'activation.failed', 'parked', 'MI0001', :at, :payload, :at,"
                " :digest)"
            ),
            {
                "id": parked.id,
                "at": rome(2026, 1, 11),
                "payload": json.dumps(parked.model_dump(mode="json")),
                "digest": "0" * 64,
            },
        )
    upgrade(before_0005)
    books = Books(before_0005)

    books.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    assert books.credit("CR-MI0001")["available"] == 3000
    books.record(pay("MI0002", CUSTOMER, "5.00", rome(2026, 1, 15)))
    books.record(pay("MI0003", CUSTOMER, "5.00", rome(2026, 1, 14)))

    assert [each["credit_id"] for each in books.standing("credit.granted")] == ["CR-MI0001"]
    assert books.credit("CR-MI0001")["available"] == 3000
    assert_books_balance(before_0005)


def test_a_request_refused_before_0005_stays_handled_after_a_later_correction(
    before_0005: Engine,
) -> None:
    """Refused before the upgrade (no credit then): transfer request R1, which left no
    journal entry. After it, the customer gets credit, and a late payment derives their
    books again. R1 sent again under another event id must still be a duplicate (it is
    before the correction): it must not spend the new credit."""
    with before_0005.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO credit_requests (request_id, customer_id, action, channel,"
                " requested_at, outcome, reason) VALUES ('R1', :customer, 'transfer',"
                " 'online_form', :at, 'rejected', 'no_credit')"
            ),
            {"customer": CUSTOMER, "at": rome(2026, 1, 5)},
        )
    upgrade(before_0005)
    books = Books(before_0005)
    books.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    books.record(fail("MI0001", rome(2026, 1, 12)))
    books.record(pay("MI0003", CUSTOMER, "5.00", rome(2026, 1, 11)))

    again = transfer("R1", CUSTOMER, "MI0100", "20.00", rome(2026, 1, 13))
    assert books.ledger.record(again).event.reason == "duplicate_request"
    assert books.credit("CR-MI0001")["available"] == 3000
