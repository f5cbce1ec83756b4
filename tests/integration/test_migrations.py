"""Migrations own the schema: they build an empty database up to head on SQLite and on
PostgreSQL, and what they build never drifts from the tables in `ledger.store.schema`."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Engine, inspect, text

from ledger.store.database import create_database_engine
from ledger.store.migrate import alembic_config, current_revision, head_revision, upgrade
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


def _book_lowercase_history(engine: Engine, *, twin: bool = False) -> None:
    """What a database at 0003 may hold: order numbers and credit ids as received."""
    at = "2026-01-10 10:00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO orders (order_id, customer_id, service, amount_cents, paid_at,"
                " method, status) VALUES (:order, 'c1', 'hosting', 3000, :at, 'card', 'failed')"
            ),
            [{"order": "mi0001", "at": at}, *([{"order": "MI0001", "at": at}] if twin else [])],
        )
        connection.execute(
            text(
                "INSERT INTO credits (credit_id, customer_id, origin, source_order_id,"
                " refundable, granted_at, expires_at, granted_cents, available_cents,"
                " held_cents, used_cents, refunded_cents, forfeited_cents) VALUES"
                " ('CR-mi0001', 'c1', 'activation_failed', 'mi0001', false, :at, :at,"
                " 3000, 2000, 0, 1000, 0, 0)"
            ),
            {"at": at},
        )
        connection.execute(
            text(
                "INSERT INTO credit_requests (request_id, customer_id, action, channel,"
                " requested_at, outcome) VALUES ('R1', 'c1', 'transfer', 'online_form', :at,"
                " 'applied')"
            ),
            {"at": at},
        )
        connection.execute(
            text(
                "INSERT INTO transfers (request_id, order_id, customer_id, order_amount_cents,"
                " credit_cents, status, requested_at) VALUES ('R1', 'ab2', 'c1', 1000, 1000,"
                " 'covered', :at)"
            ),
            {"at": at},
        )
        connection.execute(
            text(
                "INSERT INTO allocations (request_id, credit_id, amount_cents)"
                " VALUES ('R1', 'CR-mi0001', 1000)"
            )
        )


def test_order_numbers_are_upper_cased_on_upgrade(empty_engine: Engine) -> None:
    """0004 brings stored order numbers and credit ids to their canonical form, the
    allocations following their credit."""
    upgrade(empty_engine, "0003")
    _book_lowercase_history(empty_engine)

    upgrade(empty_engine)

    with empty_engine.connect() as connection:
        orders = connection.execute(text("SELECT order_id FROM orders")).scalars().all()
        credit = connection.execute(text("SELECT credit_id, source_order_id FROM credits")).one()
        allocated = connection.execute(text("SELECT credit_id FROM allocations")).scalar_one()
        transferred = connection.execute(text("SELECT order_id FROM transfers")).scalar_one()
    assert orders == ["MI0001"]
    assert tuple(credit) == ("CR-MI0001", "MI0001")
    assert (allocated, transferred) == ("CR-MI0001", "AB2")


def test_orders_differing_only_by_case_stop_the_upgrade(empty_engine: Engine) -> None:
    """Two stored orders that would become one: the upgrade refuses, naming them."""
    upgrade(empty_engine, "0003")
    _book_lowercase_history(empty_engine, twin=True)

    with pytest.raises(RuntimeError, match="MI0001 and mi0001"):
        upgrade(empty_engine)
    assert current_revision(empty_engine) == "0003"


@pytest.mark.reliability
def test_widening_the_identifier_columns_keeps_the_books(empty_engine: Engine) -> None:
    """A database at 0004 holding a credit, its allocation, its journal and a reminder
    is upgraded in place: every row is still there, the foreign keys still hold, and a
    credit id of the new maximum length (``CR-`` and a 64-character order) fits."""
    upgrade(empty_engine, "0004")
    now = "2026-01-10 09:30:00"
    with empty_engine.begin() as connection:
        for statement in (
            "INSERT INTO credits (credit_id, customer_id, origin, source_order_id, refundable,"
            " granted_at, expires_at, granted_cents, available_cents, used_cents)"
            f" VALUES ('CR-MI1', 'c1', 'activation_failed', 'MI1', false, '{now}', '{now}',"
            " 1000, 400, 600)",
            "INSERT INTO credit_requests (request_id, customer_id, action, channel,"
            f" requested_at, outcome) VALUES ('REQ-1', 'c1', 'transfer', 'online_form',"
            f" '{now}', 'applied')",
            "INSERT INTO allocations (request_id, credit_id, amount_cents)"
            " VALUES ('REQ-1', 'CR-MI1', 600)",
            "INSERT INTO journal_entries (kind, customer_id, cause, credit_id, effective_at,"
            f" recorded_at, memo) VALUES ('credit_applied', 'c1', 'evt-1', 'CR-MI1', '{now}',"
            f" '{now}', 'applied')",
            "INSERT INTO reminders (subject_id, kind, days_before, sent_at)"
            f" VALUES ('CR-MI1', 'credit_expiring', 30, '{now}')",
        ):
            connection.execute(text(statement))

    upgrade(empty_engine)

    longest = "CR-" + "M" * 64
    with empty_engine.begin() as connection:
        counts = {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("credits", "allocations", "journal_entries", "reminders")
        }
        connection.execute(
            text(
                "INSERT INTO credits (credit_id, customer_id, origin, source_order_id,"
                " refundable, granted_at, expires_at, granted_cents, available_cents)"
                " VALUES (:id, 'c2', 'spid_timeout', :order, true, :now, :now, 100, 100)"
            ),
            {"id": longest, "order": longest[3:], "now": now},
        )
        stored = connection.execute(
            text("SELECT credit_id FROM credits WHERE customer_id = 'c2'")
        ).scalar_one()
    assert counts == {"credits": 1, "allocations": 1, "journal_entries": 1, "reminders": 1}
    assert stored == longest
    assert _drift(empty_engine) == []
    if empty_engine.dialect.name == "sqlite":
        with empty_engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []


def test_late_evidence_upgrades_books_with_entries_and_allocations(
    empty_engine: Engine,
) -> None:
    """0005 re-creates the journal and the credits on SQLite: postings and allocations
    referring to them survive, and the customer's history is marked as not derivable
    again (its events' payloads were not all kept)."""
    upgrade(empty_engine, "0004_poison")
    _book_lowercase_history(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO journal_entries (entry_id, kind, customer_id, cause, effective_at,"
                " recorded_at, memo) VALUES (1, 'order_paid', 'c1', 'e1', :at, :at, 'paid')"
            ),
            {"at": "2026-01-10 10:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO postings (entry_id, account, customer_id, amount_cents) VALUES"
                " (1, 'cash', 'c1', 3000), (1, 'order_prepayments', 'c1', -3000)"
            )
        )

    upgrade(empty_engine)

    with empty_engine.connect() as connection:
        postings = connection.execute(text("SELECT count(*) FROM postings")).scalar_one()
        allocations = connection.execute(text("SELECT count(*) FROM allocations")).scalar_one()
        frontiers = connection.execute(
            text("SELECT subject, rederivable FROM subject_frontiers ORDER BY subject")
        ).all()
    assert (postings, allocations) == (2, 1)
    assert [(subject, bool(flag)) for subject, flag in frontiers] == [
        ("customer:c1", False),
        ("order:ab2", False),
        ("order:mi0001", False),
    ]


@pytest.mark.reliability
def test_refused_bodies_become_bytes_without_a_byte_lost_and_back(empty_engine: Engine) -> None:
    """0007 keeps ``rejected_events.body`` as bytes: a text body already there becomes
    its UTF-8 bytes, a body of any bytes fits, and the downgrade writes them back as
    the text the old column held (what is not UTF-8, and NUL, as U+FFFD)."""
    upgrade(empty_engine, "0006_perf")
    row = (
        "INSERT INTO rejected_events (body_sha256, reason, detail, body, received_at)"
        " VALUES (:digest, 'bad_json', 'not JSON', :body, '2026-01-10 09:30:00')"
    )
    with empty_engine.begin() as connection:
        connection.execute(text(row), {"digest": "a" * 64, "body": "città {"})

    upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(text(row), {"digest": "b" * 64, "body": b"\x00ok\xff"})
        upgraded = connection.execute(
            text("SELECT body FROM rejected_events ORDER BY body_sha256")
        ).scalars()
        assert [bytes(each) for each in upgraded] == ["città {".encode(), b"\x00ok\xff"]
    assert _drift(empty_engine) == []

    config = alembic_config()
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006_perf")
    with empty_engine.connect() as connection:
        downgraded = connection.execute(
            text("SELECT body FROM rejected_events ORDER BY body_sha256")
        ).scalars()
        assert list(downgraded) == ["città {", "\ufffdok\ufffd"]
