"""Engines for the two supported databases, configured for safe concurrent writes.

SQLite (the embedded default) gets WAL, foreign keys and a busy timeout. A unit of
work begins ``IMMEDIATE``: it takes the write lock when it starts, so two
transactions never both read a balance and then both spend it. Every other
transaction (balances, statements, status) begins deferred and, under WAL, reads a
snapshot without waiting for writers. PostgreSQL gets psycopg 3; its per-key
serialisation uses advisory locks (``UnitOfWork``).

A pooled PostgreSQL connection is pinged before use only when it sat idle in the pool
for ``PING_AFTER_IDLE_S`` or more: one that dropped while idle (a server restart, a
firewall's idle timeout) is replaced before a transaction meets it, while a hot
connection, back in the pool a moment ago, saves the round trip that SQLAlchemy's
``pool_pre_ping`` would spend on every checkout. A connection that breaks in use is
an error of that transaction, retried like any transient fault, and SQLAlchemy then
discards every connection the pool held.
"""

import time
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DisconnectionError

__all__ = [
    "PING_AFTER_IDLE_S",
    "WRITE_TRANSACTION",
    "create_database_engine",
    "normalise_database_url",
]

WRITE_TRANSACTION = "residuo_write_transaction"
"""Execution option marking a connection whose transactions will write."""

PING_AFTER_IDLE_S: Final = 5.0
"""Seconds in the pool after which a PostgreSQL connection is pinged before use."""

_RETURNED_AT: Final = "residuo_returned_at"


def normalise_database_url(url: str | URL) -> URL:
    """``postgresql://`` and ``postgres://`` mean psycopg 3; anything else is kept."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_database_engine(
    url: str | URL, *, ping_after_idle_s: float = PING_AFTER_IDLE_S, **engine_options: Any
) -> Engine:
    """An engine for ``url``; SQLite connections get the pragmas described above, and
    PostgreSQL connections idle for ``ping_after_idle_s`` seconds a ping before use."""
    parsed = normalise_database_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, **engine_options)
        event.listen(engine, "checkin", _note_return)
        event.listen(engine, "checkout", _ping_if_idle(engine.dialect, ping_after_idle_s))
        return engine
    engine = create_engine(
        parsed, connect_args={"check_same_thread": False, "timeout": 30}, **engine_options
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin)
    return engine


def _note_return(_dbapi_connection: Any, record: Any) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _ping_if_idle(dialect: Dialect, after_s: float) -> Any:
    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A connection made moments ago has no return time: it needs no ping either.
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < after_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The pool replaces the connection and checks out again.
                raise DisconnectionError(str(error)) from error
            raise

    return checkout


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is disabled so that "begin" below decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _begin(connection: Any) -> None:
    writes = connection.get_execution_options().get(WRITE_TRANSACTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")
