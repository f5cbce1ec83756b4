"""Fixtures of the unit tests that need a scratch database (SQLite, in tmp_path)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from residuo.bootstrap import Runtime, bootstrap, ensure_schema
from residuo.settings import Settings


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty SQLite database."""
    engine = create_database_engine(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """The embedded setup (SQLite, in-memory broker) on a migrated database, its clock
    stopped at 1 March 2026, 12:00 UTC."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'books.sqlite3'}")
    with bootstrap(settings, clock=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) as runtime:
        ensure_schema(runtime.engine)
        yield runtime
