"""Migrations own the schema: they build an empty database up to head on SQLite and on
PostgreSQL, and what they build never drifts from the tables in `ledger.store.schema`."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Engine, inspect, text

from ledger.store.database import create_database_engine
from ledger.store.migrate import current_revision, head_revision, upgrade
from ledger.store.schema import metadata


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


def _drift(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def test_an_empty_database_has_no_revision(empty_engine: Engine) -> None:
    """Before the first upgrade the database is not at any revision."""
    assert current_revision(empty_engine) is None


def test_migrations_upgrade_an_empty_database_to_head(empty_engine: Engine) -> None:
    """Every table of the schema exists afterwards, and the revision is head."""
    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    tables = set(inspect(empty_engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_migrations_and_tables_never_drift(empty_engine: Engine) -> None:
    """Autogenerate finds nothing to change between the migrated database and the tables:
    columns, types, defaults, indexes (partial ones included) and constraints."""
    upgrade(empty_engine)

    assert _drift(empty_engine) == []


def test_upgrading_twice_is_harmless(empty_engine: Engine) -> None:
    """`residuo migrate` on a database already at head changes nothing."""
    upgrade(empty_engine)
    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    assert _drift(empty_engine) == []


def test_check_constraints_and_partial_indexes_match_the_tables(empty_engine: Engine) -> None:
    """What autogenerate does not compare, compared here: every named check constraint,
    and every index's uniqueness and partial predicate (R6's "funded once" is one)."""
    upgrade(empty_engine)
    inspector = inspect(empty_engine)

    for table in metadata.sorted_tables:
        declared = {
            constraint.name
            for constraint in table.constraints
            if isinstance(constraint, CheckConstraint)
        }
        built = {check["name"] for check in inspector.get_check_constraints(table.name)}
        assert declared == built, table.name
        indexes = {index["name"]: index for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            # Every index is named, by hand or by the metadata's naming convention.
            assert index.name is not None, table.name
            assert index.name in indexes, index.name
            assert bool(indexes[index.name]["unique"]) == index.unique, index.name
            partial = index.dialect_options[empty_engine.dialect.name]["where"] is not None
            assert _is_partial(empty_engine, index.name) == partial, index.name


def _is_partial(engine: Engine, index_name: str) -> bool:
    query = {
        "sqlite": "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name",
        "postgresql": "SELECT indexdef FROM pg_indexes WHERE indexname = :name",
    }[engine.dialect.name]
    with engine.connect() as connection:
        definition = connection.execute(text(query), {"name": index_name}).scalar_one()
    return " WHERE " in definition.upper()
