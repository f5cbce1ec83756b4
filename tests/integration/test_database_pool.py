"""PostgreSQL connections are pinged before use only once they sat idle in the pool:
a hot connection goes straight to its transaction, an idle one that the server
dropped meanwhile is replaced before a transaction meets it."""

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from ledger.store.database import create_database_engine


def _pooled_engine(url: str, ping_after_idle_s: float) -> Engine:
    return create_database_engine(url, ping_after_idle_s=ping_after_idle_s, pool_size=1)


def _drop_pooled_connection(engine: Engine, url: str) -> None:
    """Use the pool's one connection, return it, and have the server end its session."""
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    killer = create_database_engine(url)
    try:
        with killer.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        killer.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(postgres_url: str) -> None:
    """Idle past the threshold (zero here): pinged, found dead, replaced; the
    transaction never sees it."""
    engine = _pooled_engine(postgres_url, ping_after_idle_s=0)
    try:
        _drop_pooled_connection(engine, postgres_url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_hot_connection_is_not_pinged(postgres_url: str) -> None:
    """Back in the pool a moment ago (threshold an hour): no ping, so the dropped
    connection is met by the transaction itself, which fails; the next one gets a
    fresh connection."""
    engine = _pooled_engine(postgres_url, ping_after_idle_s=3600)
    try:
        _drop_pooled_connection(engine, postgres_url)
        with pytest.raises(OperationalError), engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
