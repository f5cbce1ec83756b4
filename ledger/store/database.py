"""Engines for the two supported databases, configured for safe concurrent writes.

SQLite (the embedded default) gets WAL, foreign keys and a busy timeout. A unit of
work begins ``IMMEDIATE``: it takes the write lock when it starts, so two
transactions never both read a balance and then both spend it. Every other
transaction (balances, statements, status) begins deferred and, under WAL, reads a
snapshot without waiting for writers. PostgreSQL gets psycopg 3 and pre-ping; its
per-key serialisation uses advisory locks (``UnitOfWork``).
"""

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

__all__ = ["WRITE_TRANSACTION", "create_database_engine", "normalise_database_url"]

WRITE_TRANSACTION = "residuo_write_transaction"
"""Execution option marking a connection whose transactions will write."""


def normalise_database_url(url: str | URL) -> URL:
    """``postgresql://`` and ``postgres://`` mean psycopg 3; anything else is kept."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_database_engine(url: str | URL, **engine_options: Any) -> Engine:
    """An engine for ``url``; SQLite connections get the pragmas described above."""
    parsed = normalise_database_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, **engine_options)
    engine = create_engine(
        parsed, connect_args={"check_same_thread": False, "timeout": 30}, **engine_options
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin)
    return engine


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
