"""attack15: ``UnitOfWork.among`` takes the JSON scalars its docstring promises (ids and
numbers), on PostgreSQL as on SQLite: keys of an integer column match too."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select

from ledger.books import Account, Line, post_entry
from ledger.store import schema
from ledger.store.migrate import upgrade
from ledger.store.uow import UnitOfWork

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def books(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Migrated books with three journal entries (ids 1, 2, 3), on either backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'books.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    upgrade(engine)
    with UnitOfWork(engine) as uow:
        for number in range(3):
            post_entry(
                uow,
                kind="payment",
                customer_id="c-1",
                cause=f"evt-{number}",
                effective_at=AT,
                recorded_at=AT,
                memo="paid",
                lines=[Line(Account.CASH, -100), Line(Account.ORDER_PREPAYMENTS, 100)],
            )
        uow.commit()
    yield engine
    engine.dispose()


def test_among_matches_numbers_in_an_integer_column(books: Engine) -> None:
    """Entry ids 1 and 3 named as numbers select those entries, and only them."""
    column = schema.journal_entries.c
    with UnitOfWork(books) as uow:
        chosen = uow.connection.execute(
            select(column.entry_id)
            .where(uow.among(column.entry_id, [1, 3]))
            .order_by(column.entry_id)
        ).scalars()
        assert list(chosen) == [1, 3]
