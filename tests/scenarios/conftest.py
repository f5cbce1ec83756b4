"""Every scenario runs twice: on SQLite (the embedded default) and on real PostgreSQL.

The schema is made by the migrations, as in production, never by ``create_all``. It is
migrated once per session and per backend, and each test starts from an empty copy: a
fresh SQLite file copied from the migrated one, or the migrated PostgreSQL database
emptied with ``TRUNCATE … RESTART IDENTITY`` (creating and migrating a PostgreSQL
database costs more than most scenarios do). After each scenario the books must
still balance (R11), whatever the test checked.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from scenarios.kit import Books, assert_books_balance
from servers import PostgresServer
from sqlalchemy import Engine, text

from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from ledger.store.schema import metadata


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database file at head, to copy for each test."""
    path = tmp_path_factory.mktemp("migrated") / "residuo.sqlite3"
    engine = create_database_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: PostgresServer) -> Iterator[Engine]:
    """A PostgreSQL database of the session's own, migrated to head once."""
    url = postgres_server.create_database()
    engine = create_database_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    postgres_server.drop_database(url)


def _emptied(engine: Engine) -> Engine:
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database at head, on each supported backend."""
    if request.param == "postgres":
        yield _emptied(request.getfixturevalue("migrated_postgres"))
        return
    path = tmp_path / "residuo.sqlite3"
    shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
    engine = create_database_engine(f"sqlite:///{path}")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def ledger(engine: Engine) -> Iterator[Books]:
    """The ledger under the default policy; its books must balance when the test ends."""
    books = Books(engine)
    yield books
    assert_books_balance(engine)
