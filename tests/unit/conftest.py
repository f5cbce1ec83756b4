"""Fixtures of the unit tests that need a scratch database (SQLite, in tmp_path)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty SQLite database."""
    engine = create_database_engine(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
    upgrade(engine)
    yield engine
    engine.dispose()
