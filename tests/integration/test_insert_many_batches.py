"""``UnitOfWork.insert_many`` on PostgreSQL sends its rows as they are, in one
JSON array read by ``json_populate_recordset``: awkward values arrive intact and in the
order given; a row short of a key is refused rather than written NULL, as SQLite
refuses it; rows may be any ``Mapping``, as the signature says, keyed by SQLAlchemy's
own column names, with instants of a ``datetime`` subclass; ``add_to_many`` takes any
``Sequence`` of them."""

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, select

from ledger.store import schema
from ledger.store.migrate import upgrade
from ledger.store.uow import UnitOfWork

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROME = ZoneInfo("Europe/Rome")


@pytest.fixture(params=["sqlite", "postgresql"])
def books(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Migrated, empty books on either backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'books.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def notification(number: int, payload: str, created_at: datetime) -> dict[str, Any]:
    return {
        "notification_id": f"n-{number}",
        "type": "credit.expired",
        "customer_id": None if number % 2 else payload[:20],
        "payload": payload,
        "created_at": created_at,
        "derived": bool(number % 2),
        "rule_key": None,
        "event_id": None,
    }


def test_awkward_values_arrive_intact_in_the_order_given(books: Engine) -> None:
    """Quotes, backslashes, non-ASCII, control characters, JSON text, NULLs, booleans
    and instants in other offsets (one in the autumn fold, one a microsecond past the
    hour) come back as given, in positions that follow the order given; RETURNING
    names only the rows really inserted."""
    payloads = [
        '{"id": "x", "data": {"note": "a \\"quoted\\" \\\\ path", "n": [1, 2.5, null]}}',
        "città — €, ß, 漢字, 🎉",
        'it\'s "quoted" and back\\slashed \\u00e9',
        "",
        "tab\tnew line\n\x01 \u2028 \\u0000 </script>",
    ]
    instants = [
        datetime(2026, 10, 25, 2, 30, tzinfo=ROME),
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ROME),
        datetime(2026, 1, 1, 5, 45, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        AT,
        datetime(2026, 3, 29, 3, 0, 0, 1, tzinfo=ROME),
    ]
    rows = [
        notification(number, payload, instant)
        for number, (payload, instant) in enumerate(zip(payloads, instants, strict=True))
    ]
    column = schema.outbox.c
    with UnitOfWork(books) as uow:
        uow.insert_many(schema.outbox, [rows[2]])
        inserted = uow.insert_many(
            schema.outbox,
            list(reversed(rows)),
            ignore_conflicts=True,
            returning=[column.notification_id],
        )
        written = uow.connection.execute(select(schema.outbox).order_by(column.position)).mappings()
        stored = [{name: row[name] for name in rows[0]} for row in written]
    assert [row.notification_id for row in inserted] == ["n-4", "n-3", "n-1", "n-0"]
    expected = [rows[2], rows[4], rows[3], rows[1], rows[0]]
    # Compared in UTC: Python finds an instant in a fold unequal to any other zone's.
    assert [{**row, "created_at": row["created_at"].astimezone(UTC)} for row in expected] == stored


def test_a_row_without_one_of_the_first_rows_keys_is_refused(books: Engine) -> None:
    """A later row that leaves out a nullable column is refused, not written NULL."""
    rows = [notification(0, "first", AT), notification(1, "second", AT)]
    del rows[1]["customer_id"]
    with UnitOfWork(books) as uow:
        with pytest.raises(ValueError, match="row 1 has the keys"):
            uow.insert_many(schema.outbox, rows)
        written = uow.connection.execute(select(schema.outbox.c.notification_id)).all()
    assert written == []


def test_rows_may_be_any_mapping(books: Engine) -> None:
    """Read-only mappings are inserted as dicts are, into a table with no column of a
    type of our own (whose rows PostgreSQL is sent as they are given)."""
    rows = [
        MappingProxyType({"subject": "customer|c-1", "event_id": "evt-1"}),
        MappingProxyType({"subject": "order|MI0001", "event_id": "evt-1"}),
    ]
    column = schema.event_subjects.c
    with UnitOfWork(books) as uow:
        uow.insert_many(schema.event_subjects, rows)
        written = uow.connection.execute(
            select(column.subject, column.event_id).order_by(column.subject)
        ).all()
    assert [tuple(row) for row in written] == [
        ("customer|c-1", "evt-1"),
        ("order|MI0001", "evt-1"),
    ]


def test_rows_keyed_by_the_columns_own_names_are_inserted(books: Engine) -> None:
    """A row keyed by its columns' ``name`` (as a row SQLAlchemy reads back is) is keyed
    by SQLAlchemy's ``quoted_name``, a ``str`` subclass: it is inserted as a row keyed
    by plain strings is, given as a ``dict`` or another ``Mapping``, into a table with
    a column of a type of our own or without."""
    outbox, subjects = schema.outbox.c, schema.event_subjects.c
    notice = {outbox[name].name: value for name, value in notification(0, "{}", AT).items()}
    filed = MappingProxyType({subjects.subject.name: "order|MI0001", subjects.event_id.name: "e"})
    assert not any(type(key) is str for key in [*notice, *filed])
    with UnitOfWork(books) as uow:
        uow.insert_many(schema.outbox, [notice])
        uow.insert_many(schema.event_subjects, [filed])
        written = uow.connection.execute(select(outbox.notification_id, outbox.created_at)).all()
        subject = uow.connection.execute(select(subjects.subject)).scalar_one()
    assert [tuple(row) for row in written] == [("n-0", AT)]
    assert subject == "order|MI0001"


class _Instant(datetime):
    """A ``datetime`` of another class, as a clock library may hand out."""


def test_an_instant_of_a_datetime_subclass_is_stored_as_its_value(books: Engine) -> None:
    """An instant whose class derives from ``datetime`` is written as the instant it is."""
    given = _Instant(2026, 3, 29, 3, 0, 0, 1, tzinfo=ROME)
    with UnitOfWork(books) as uow:
        uow.insert_many(schema.sweep_log, [{"kind": "expiry", "as_of": given}])
        stored = uow.connection.execute(select(schema.sweep_log.c.as_of)).scalar_one()
    assert stored == given.astimezone(UTC)


def test_add_to_many_takes_any_sequence_of_any_mapping(books: Engine) -> None:
    """``add_to_many`` adds rows given as any ``Sequence`` of any ``Mapping``, as its
    signature says: here a ``deque`` of read-only mappings."""
    credit = {
        "credit_id": "CR-MI0001",
        "customer_id": "c-1",
        "origin": "goodwill",
        "source_order_id": "MI0001",
        "refundable": False,
        "granted_at": AT,
        "expires_at": AT + timedelta(days=365),
        "granted_cents": 1000,
        "available_cents": 1000,
    }
    moves = deque(
        [MappingProxyType({"credit_id": "CR-MI0001", "available_cents": -300, "held_cents": 300})]
    )
    column = schema.credits.c
    with UnitOfWork(books) as uow:
        uow.insert_many(schema.credits, [credit])
        uow.add_to_many(schema.credits, column.credit_id, moves)
        buckets = uow.connection.execute(select(column.available_cents, column.held_cents)).one()
    assert tuple(buckets) == (700, 300)
