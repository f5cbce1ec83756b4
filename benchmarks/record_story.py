"""Record a story's events through ``Ledger.record``, and nothing else, for an A/B of
the client's CPU between two checkouts timed from outside (``farm-bench``).

    uv run python -m benchmarks.record_story POSTGRES_URL [--events 3000]

``POSTGRES_URL`` is a server's maintenance database (SQLAlchemy URL, e.g.
``postgresql+psycopg://postgres:pw@127.0.0.1:5432/postgres``): a fresh database is
created there, migrated, given ``events`` events of ``ledger_throughput``'s story (four
per customer) one ``Ledger.record`` at a time, and dropped. The process's user and
system time is then the client's cost of those events plus a fixed start-up (the
interpreter, the imports, the migrations), the same on both sides of a pair; the
server's work is in another process and not counted. Paired against the same command
in another checkout (``farm-bench --vs``), the ratio of their CPU says how much client
work a change saves per event, with less noise than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import uuid

from sqlalchemy import create_engine, make_url, text

from benchmarks.ledger_throughput import story
from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade

__all__ = ["main"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a PostgreSQL server's maintenance database")
    parser.add_argument("--events", type=int, default=3_000, help="events to record (3000)")
    arguments = parser.parse_args()
    name = f"record_story_{uuid.uuid4().hex[:12]}"
    admin = create_engine(arguments.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = create_database_engine(make_url(arguments.url).set(database=name))
        upgrade(engine)
        ledger = Ledger(engine, Policy())
        for event in story(arguments.events // 4, first=1):
            ledger.record(event)
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}"'))
        admin.dispose()


if __name__ == "__main__":
    main()
