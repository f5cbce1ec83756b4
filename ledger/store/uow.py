"""The unit of work: one transaction, rollback by default, commit explicit.

The inbox row, the journal entries, the credit buckets and the outbox rows of one
event are written through one ``UnitOfWork`` and commit together or not at all.
"""

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from types import TracebackType
from typing import Any, Final, Self

import orjson
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Insert,
    Row,
    String,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ledger.store.database import WRITE_TRANSACTION

__all__ = ["INSERTED_ROWS", "UnitOfWork"]

INSERTED_ROWS: Final = "residuo_inserted_rows"
"""The execution option every ``UnitOfWork.insert_many`` statement carries:
``(table, rows)`` as given. On PostgreSQL the statement is SQL text with the rows in
one JSON parameter, so a listener that must know what was inserted (a replay, its
outbox rows: ``residuo.replay``) reads it here rather than from the statement."""

# Statements an event issues every time are built once, not at each call.
# Every key in one round trip, locked in the order given: the subquery is kept apart
# (OFFSET 0) so that its rows come out sorted before the outer select locks each.
_ADVISORY_LOCKS: Final = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) FROM"
    " (SELECT key FROM unnest(CAST(:lock_keys AS text[])) WITH ORDINALITY AS given(key, n)"
    " ORDER BY n OFFSET 0) AS ordered"
)


@functools.cache
def _insert_ignoring_conflicts(table: Table, dialect: str) -> Insert:
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)


@functools.cache
def _batch_insert(
    table: Table,
    names: tuple[str, ...],
    *,
    dialect: Dialect,
    ignore_conflicts: bool,
    returning: tuple[Column[Any], ...],
) -> Any:
    """``UnitOfWork.insert_many``'s statement, built once per shape: building it anew
    at every call cost more client time than the round trip it saves.

    PostgreSQL: the rows arrive as one JSON array (``batch_rows``), read in their
    order (``WITH ORDINALITY``) into the table's own row type, so each value is parsed
    by its column's type on the server and the rows are inserted in the order given
    (a serial key such as the outbox's ``position`` follows it). One
    ``json_populate_recordset`` parses the array once, where taking its elements
    apart first and reading each into a row parsed every row twice."""
    if dialect.name != "postgresql":
        statement: Any = sqlite.insert(table)
        if ignore_conflicts:
            statement = statement.on_conflict_do_nothing()
        return statement.returning(*returning) if returning else statement
    quote = dialect.identifier_preparer.quote
    target = quote(table.name)
    columns = ", ".join(quote(name) for name in names)
    given = ", ".join(f"given_row.{quote(name)}" for name in names)
    sql = (
        f"INSERT INTO {target} ({columns}) SELECT {given}"
        f" FROM json_populate_recordset(NULL::{target}, CAST(:batch_rows AS json))"
        " WITH ORDINALITY AS given_row ORDER BY given_row.ordinality"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if not returning:
        return text(sql)
    sql += " RETURNING " + ", ".join(quote(column.name) for column in returning)
    return text(sql).columns(*returning)


@functools.cache
def _json_conversions(
    table: Table, names: tuple[str, ...], dialect: Dialect
) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """The columns of a batch whose values must be made JSON-ready as PostgreSQL should
    read them, each with its conversion: a column type of our own (``TypeDecorator``:
    ``UTCDateTime``) checks and converts a value first, as it would a bound parameter.
    Every other value goes into the JSON as it is."""
    conversions: list[tuple[str, Callable[[Any], Any]]] = []
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, TypeDecorator):
            process = column_type.bind_processor(dialect)
            if process is not None:
                conversions.append((name, process))
    return tuple(conversions)


def _batch_json(rows: Sequence[Mapping[str, Any]]) -> str:
    """A batch of rows as one JSON array, the text PostgreSQL reads them from.

    orjson, not ``json.dumps``: writing the batch (a thousand notifications, each
    with its payload's text to escape) was a fifth of a sweep chunk's client time, and
    orjson writes it in a seventh of that. Instants and dates go out in ISO 8601 with
    their offset (RFC 3339), which PostgreSQL parses; text as UTF-8, which it reads as
    ``json.dumps``'s escapes. Keys need not be exactly ``str`` (``OPT_NON_STR_KEYS``):
    a row SQLAlchemy hands back, or one keyed by a column's ``name``, is keyed by its
    ``quoted_name``, a ``str`` subclass orjson otherwise refuses. Raises ``TypeError``
    (``orjson.JSONEncodeError``) on a value no column could take (an integer beyond 64
    bits, a ``Decimal``). A number that is not finite (NaN, an infinity) goes out as
    ``null``, as SQLite stores it: no column of residuo's holds a fractional number
    (money is integer cents), so none reaches a batch unless by a bug, which a NOT NULL
    column still refuses."""
    return orjson.dumps(rows, default=_json_fallback, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_fallback(value: object) -> object:
    """orjson's fallback for what it does not write by itself: an instant or a date of
    a subclass (orjson writes only ``datetime`` and ``date`` themselves), in ISO 8601
    as ``isoformat`` spells it; a row given as another ``Mapping`` than a ``dict``, as
    the ``dict`` it reads as."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not a column value insert_many can send")


def _require_same_keys(table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a batch whose rows do not all have the first row's keys: on PostgreSQL a
    key left out would otherwise be read as NULL (``json_populate_recordset``), not
    refused as SQLite refuses it.

    Raises ``ValueError`` naming the first row that differs."""
    keys = rows[0].keys()
    for number, row in enumerate(rows):
        if row.keys() != keys:
            raise ValueError(
                f"insert_many into {table.name}: row {number} has the keys {sorted(row)},"
                f" not the first row's {sorted(keys)}"
            )


@functools.cache
def _batch_add(table: Table, key: str, names: tuple[str, ...], dialect: Dialect) -> Any:
    """``UnitOfWork.add_to_many``'s statement, built once per shape. PostgreSQL: one
    ``UPDATE … FROM`` the rows given as one JSON array (read into the table's row type,
    which checks no constraint: a delta may be negative); SQLite: an executemany."""
    if dialect.name != "postgresql":
        return (
            update(table)
            .where(table.c[key] == bindparam(f"batch_{key}"))
            .values({name: table.c[name] + bindparam(f"batch_{name}") for name in names})
        )
    quote = dialect.identifier_preparer.quote
    target = quote(table.name)
    moves = ", ".join(
        f"{quote(name)} = {target}.{quote(name)} + given.{quote(name)}" for name in names
    )
    return text(
        f"UPDATE {target} SET {moves}"
        f" FROM json_populate_recordset(NULL::{target}, CAST(:batch_rows AS json)) AS given"
        f" WHERE {target}.{quote(key)} = given.{quote(key)}"
    )


class UnitOfWork:
    """A database transaction with the few primitives the ledger needs."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._committed = False
        self._locked: set[str] = set()

    def __enter__(self) -> Self:
        self._connection = self._engine.connect().execution_options(**{WRITE_TRANSACTION: True})
        self._connection.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        try:
            if not self._committed:
                self._connection.rollback()
        finally:
            self._connection.close()
            self._connection = None
            self._locked.clear()

    @property
    def connection(self) -> Connection:
        """The open connection; only valid inside ``with``."""
        if self._connection is None:
            raise RuntimeError("UnitOfWork used outside its 'with' block")
        return self._connection

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @contextmanager
    def tried(self) -> Iterator[None]:
        """Run the block in a savepoint that is always rolled back: what it would have
        written, read and forgotten. Locks taken in it are released with it."""
        savepoint = self.connection.begin_nested()
        locked = set(self._locked)
        try:
            yield
        finally:
            savepoint.rollback()
            self._locked = locked

    def commit(self) -> None:
        """Make every write of this unit durable, at once."""
        self.connection.commit()
        self._committed = True

    def lock(self, *keys: str) -> None:
        """Serialise with every other transaction that locks one of ``keys``.

        PostgreSQL: transaction-scoped advisory locks, taken in sorted order so two
        units locking the same keys cannot deadlock. SQLite: every write transaction
        already holds the database write lock (``BEGIN IMMEDIATE``).
        """
        if self.dialect != "postgresql":
            return
        # A key already held is held until the transaction ends: asking again would
        # only cost a round trip.
        wanted = sorted(set(keys) - self._locked)
        if wanted:
            self.connection.execute(_ADVISORY_LOCKS, {"lock_keys": wanted})
            self._locked.update(wanted)

    def insert_ignoring_conflicts(
        self, table: Table, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> int:
        """``INSERT … ON CONFLICT DO NOTHING``; how many rows were really inserted.

        Counted from ``RETURNING``, not ``rowcount``: SQLAlchemy does not promise a
        rowcount for an INSERT (with psycopg it is -1), which would read as "inserted"
        even when the conflict skipped the row.
        """
        # Values go as parameters, not into the statement: the statement is then the
        # same every time and SQLAlchemy compiles it once (inline values cost a cache
        # key of every literal, per call, which dominated the cost of an event).
        statement = _insert_ignoring_conflicts(table, self.dialect)
        parameters = [rows] if isinstance(rows, Mapping) else list(rows)
        result = self.connection.execute(statement, parameters)
        return len(result.all())

    def insert_many(
        self,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        *,
        ignore_conflicts: bool = False,
        returning: Sequence[Column[Any]] = (),
    ) -> list[Row[Any]]:
        """Insert a batch of rows (all with the same keys) in one statement, whatever
        their number, in the order given; the ``returning`` columns of the rows really
        inserted.

        What a sweep chunk needs to write a thousand rows in a few milliseconds rather
        than a round trip each. PostgreSQL: the rows go as one JSON text parameter
        (``_batch_json``, C-fast, where psycopg would format one array parameter per
        column in Python, escaping every quote of a JSON payload one by one, or
        SQLAlchemy would spell out a ``VALUES`` list it then parses), read back on the
        server into the table's row type. SQLite, in process: an executemany. With
        ``ignore_conflicts`` a row that would break a unique key is left out
        (``ON CONFLICT DO NOTHING``), as by ``insert_ignoring_conflicts``. A row
        without one of the first row's keys, or with one more, raises ``ValueError``.
        """
        if not rows:
            return []
        _require_same_keys(table, rows)
        names = tuple(rows[0])
        statement = _batch_insert(
            table,
            names,
            dialect=self._engine.dialect,
            ignore_conflicts=ignore_conflicts,
            returning=tuple(returning),
        )
        parameters: Any
        if self.dialect == "postgresql":
            conversions = _json_conversions(table, names, self._engine.dialect)
            batch = (
                [
                    {**row, **{name: convert(row[name]) for name, convert in conversions}}
                    for row in rows
                ]
                if conversions
                else list(rows)
            )
            parameters = {"batch_rows": _batch_json(batch)}
        else:
            parameters = list(rows)
        result = self.connection.execute(
            statement, parameters, execution_options={INSERTED_ROWS: (table, rows)}
        )
        return list(result.all()) if returning else []

    def among(self, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
        """``column IN (values)`` with the values sent as one JSON parameter, however many.

        What a sweep chunk needs to name a thousand keys: ``in_`` would spell out a
        placeholder per value, which SQLAlchemy renders and psycopg re-parses at every
        call (the statement differs with each count). The values must be JSON scalars
        (ids, numbers)."""
        given = bindparam(None, json.dumps(list(values)), type_=Text)
        if self.dialect == "postgresql":
            elements: ColumnElement[Any] = func.json_array_elements_text(cast(given, JSON))
            # The elements are text: a number is read as the column's type; a string
            # stays text (a cast to VARCHAR(n) would cut a longer value to a key it is not).
            if not isinstance(column.type, String):
                elements = cast(elements, column.type)
            return column.in_(select(elements))
        return column.in_(select(literal_column("value")).select_from(func.json_each(given)))

    def add_to_many(
        self, table: Table, key: Column[Any], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Add each row's numbers to the same columns of the row whose ``key`` it names,
        in one statement whatever their number (``{"credit_id": …, "held_cents": -500,
        "available_cents": 500}``: every row with the same keys, each key once).

        What a sweep chunk needs to move a thousand credits' buckets: PostgreSQL, one
        ``UPDATE … FROM`` the rows sent as one JSON parameter, rather than an
        executemany that the server runs one statement a row; SQLite, in process, an
        executemany.
        """
        if not rows:
            return
        names = tuple(name for name in rows[0] if name != key.name)
        statement = _batch_add(table, key.name, names, self._engine.dialect)
        if self.dialect == "postgresql":
            # A list, whatever Sequence was given: orjson writes only lists and tuples.
            self.connection.execute(statement, {"batch_rows": _batch_json(list(rows))})
        else:
            self.connection.execute(
                statement,
                [{f"batch_{name}": value for name, value in row.items()} for row in rows],
            )

    def next_ids(self, column: Column[int], count: int) -> list[int]:
        """``count`` fresh values of an auto-increment primary key, to insert rows that
        refer to each other in one batch (journal entries and their postings).

        PostgreSQL draws them from the column's sequence. SQLite continues from the
        largest value: safe because a SQLite write transaction holds the database's
        write lock from its ``BEGIN IMMEDIATE`` (``ledger.store.database``).
        """
        if self.dialect == "postgresql":
            sequence = func.pg_get_serial_sequence(column.table.name, column.name)
            query = select(func.nextval(sequence)).select_from(func.generate_series(1, count))
            return [int(value) for value in self.connection.execute(query).scalars().all()]
        largest = self.connection.execute(select(func.coalesce(func.max(column), 0))).scalar_one()
        return list(range(int(largest) + 1, int(largest) + 1 + count))
