"""Attack on issue 7, kind 4, on an upgraded database: ids recorded before 0004.

Migration 0004 leaves `inbox.body_sha256` NULL on rows already there, and the inbox
takes a NULL for a redelivery. So on every database upgraded to the fix, an id of the
past reused for another event is dropped in silence, which is the handed U1 fault,
even where what the row still records (`event_type`, `business_time`) proves the new
body is another one. This test fails on the code of issue 7's fix.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.policy import Policy
from ledger.service import Ledger, Recorded
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import parse_inbound


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database, on each supported backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'residuo.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_database_engine(url)
    yield engine
    engine.dispose()


def _payment(event_id: str, order: str, amount: str, at: str) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "billing",
        "type": "payment.received",
        "time": at,
        "data": {
            "order_id": order,
            "customer_id": "1234567@aruba.it",
            "service": "hosting",
            "amount": amount,
            "currency": "EUR",
            "paid_at": at,
            "method": "card",
            "reference": None,
        },
    }


def test_an_id_used_before_the_upgrade_and_reused_for_another_payment_is_reported(
    empty_engine: Engine,
) -> None:
    """evt-1 paid MI0001 (30.00, 1 March) at 0003; after the upgrade evt-1 arrives again
    for MI0002 (70.00, 2 March): another business time, so surely another body.
    Seen: `Recorded.DUPLICATE`, no notification, the 70.00 leaves no trace."""
    upgrade(empty_engine, "0003")
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO inbox (event_id, event_type, status, business_time, received_at)"
                " VALUES ('evt-1', 'payment.received', 'applied', :paid, :paid)"
            ),
            {"paid": "2025-03-01 09:00:00"},
        )
    upgrade(empty_engine)
    ledger = Ledger(empty_engine, Policy())

    outcome = ledger.record(
        parse_inbound(_payment("evt-1", "MI0002", "70.00", "2025-03-02T10:00:00+01:00"))
    )

    assert outcome.outcome is Recorded.CONFLICT
    with empty_engine.connect() as connection:
        reasons = connection.execute(text("SELECT payload FROM outbox")).scalars().all()
    assert any('"id_conflict"' in payload for payload in reasons)
