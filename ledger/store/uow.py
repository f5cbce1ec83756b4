"""The unit of work: one transaction, rollback by default, commit explicit.

The inbox row, the journal entries, the credit buckets and the outbox rows of one
event are written through one ``UnitOfWork`` and commit together or not at all.
"""

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """A database transaction with the few primitives the ledger needs."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._committed = False

    def __enter__(self) -> Self:
        self._connection = self._engine.connect()
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
        for key in sorted(set(keys)):
            self.connection.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0)))
            )

    def insert_ignoring_conflicts(
        self, table: Table, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> int:
        """``INSERT … ON CONFLICT DO NOTHING``; how many rows were really inserted."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(table).values(rows).on_conflict_do_nothing()
        return self.connection.execute(statement).rowcount
