"""attack8: migration 0005 cannot be rolled back on SQLite.

Its ``downgrade`` drops the foreign keys it added to ``journal_entries`` by name inside
``batch_alter_table``; on SQLite they were added with a plain ``ALTER TABLE … ADD
COLUMN … CONSTRAINT … REFERENCES`` that the batch reflection does not find by that
name: ``ValueError: No such constraint: 'fk_journal_entries_correction_id_corrections'``.
An operator rolling a release back (``alembic downgrade 0004_poison``) is stuck on the
embedded default. (PostgreSQL rolls back.)
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect

from ledger.store.database import create_database_engine
from ledger.store.migrate import alembic_config, current_revision, upgrade


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database at head."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'residuo.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_database_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_0005_rolls_back_to_0004_poison(migrated: Engine) -> None:
    config = alembic_config()
    with migrated.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004_poison")

    assert current_revision(migrated) == "0004_poison"


def test_0005_rolled_back_upgrades_again_with_its_references(migrated: Engine) -> None:
    """Down to 0004_poison and up again: the journal's columns went with their
    references, and come back with them (a reversal must point at a real entry)."""
    config = alembic_config()
    with migrated.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004_poison")
    assert "correction_id" not in {
        column["name"] for column in inspect(migrated).get_columns("journal_entries")
    }

    upgrade(migrated)

    references = {
        tuple(each["constrained_columns"]): each["referred_table"]
        for each in inspect(migrated).get_foreign_keys("journal_entries")
    }
    assert references[("correction_id",)] == "corrections"
    assert references[("reverses_entry_id",)] == "journal_entries"
