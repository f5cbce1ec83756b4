"""What every benchmark of the suite shares: servers, rounds, the table and the JSON.

Servers come from ``tests/servers.py``, as the integration tests get them:
``RESIDUO_TEST_POSTGRES_URL`` / ``RESIDUO_TEST_RABBITMQ_URL`` when set, else private
PostgreSQL and RabbitMQ started from Debian's binaries on free ports (note that the
private PostgreSQL runs with ``fsync = off``, as the tests' does, so that a bare commit
there costs no disk flush, unless ``durable``, which turns fsync and synchronous
commits back on, as in production). ``pg_stat_statements`` is loaded on a private
server.

A comparison runs its subject and its baseline in turn, ``rounds`` times (A B A B …),
so a machine that slows down slows both; each figure is reported as its median and
its spread (min–max), and the ratio is taken pair by pair, then its median.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import (
    PostgresServer,
    RabbitMQServer,
    provide_postgres,
    provide_rabbitmq,
)
from sqlalchemy import text

from ledger.store.database import create_database_engine

__all__ = [
    "Comparison",
    "Figure",
    "Servers",
    "interleaved",
    "report",
    "servers",
]


@dataclass
class Servers:
    """The PostgreSQL server (databases made on demand) and, when asked, RabbitMQ."""

    postgres: PostgresServer
    rabbitmq: RabbitMQServer | None
    statements_tracked: bool = False

    def database(self) -> str:
        """A new empty database's SQLAlchemy URL (dropped with the server, or by hand)."""
        url = self.postgres.create_database()
        if self.statements_tracked:
            engine = create_database_engine(url)
            with engine.begin() as connection:
                connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            engine.dispose()
        return url

    def vhost(self) -> str:
        assert self.rabbitmq is not None, "this benchmark needs RabbitMQ"
        return self.rabbitmq.fresh_vhost_url()


@contextmanager
def servers(*, rabbitmq: bool = False, durable: bool = False) -> Iterator[Servers]:
    """The servers for one invocation of the suite, closed at the end."""
    postgres = provide_postgres()
    broker: RabbitMQServer | None = None
    try:
        tracked = _configure(postgres, durable=durable)
        broker = provide_rabbitmq() if rabbitmq else None
        yield Servers(postgres, broker, statements_tracked=tracked)
    finally:
        if broker is not None:
            broker.close()
        postgres.close()


def _configure(postgres: PostgresServer, *, durable: bool) -> bool:
    """Load pg_stat_statements (and, if ``durable``, flush commits to disk) on a server
    of ours, which takes a restart; whether pg_stat_statements is loaded."""
    engine = create_database_engine(postgres.url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            loaded = connection.execute(text("SHOW shared_preload_libraries")).scalar_one()
            if "pg_stat_statements" in loaded and not durable:
                return True
            connection.execute(
                text("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            )
            if durable:
                for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                    connection.execute(text(f"ALTER SYSTEM SET {setting} = on"))
    finally:
        engine.dispose()
    try:
        postgres.restart()
    except Exception:
        return False
    return True


@dataclass
class Figure:
    """Several measurements of one quantity: their median and spread."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def shown(self, digits: int = 1) -> str:
        low, high = min(self.values), max(self.values)
        if len(self.values) == 1:
            return f"{self.median:,.{digits}f}"
        return f"{self.median:,.{digits}f} ({low:,.{digits}f}–{high:,.{digits}f})"

    def summary(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": min(self.values),
            "max": max(self.values),
            "values": self.values,
        }


@dataclass
class Comparison:
    """A subject against its baseline, measured in the same run, in ``unit``.

    ``ratio`` is subject over baseline, pair by pair: for a rate, the fraction of the
    baseline's speed; for a time or a latency, how many times longer.
    """

    what: str
    baseline_name: str
    unit: str
    subject: Figure = field(default_factory=Figure)
    baseline: Figure = field(default_factory=Figure)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> Figure:
        return Figure(
            [a / b for a, b in zip(self.subject.values, self.baseline.values, strict=True) if b]
        )

    def summary(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "unit": self.unit,
            "baseline_name": self.baseline_name,
            "subject": self.subject.summary(),
            "baseline": self.baseline.summary(),
            "ratio": self.ratio.summary(),
            "notes": self.notes,
        }


def interleaved(
    rounds: int, subject: Callable[[int], float], baseline: Callable[[int], float]
) -> tuple[Figure, Figure]:
    """``subject(round)`` and ``baseline(round)`` in turn, ``rounds`` times."""
    measured, base = Figure(), Figure()
    for number in range(rounds):
        measured.values.append(subject(number))
        base.values.append(baseline(number))
        print(
            f"  round {number + 1}/{rounds}: {measured.values[-1]:,.2f} vs {base.values[-1]:,.2f}",
            file=sys.stderr,
            flush=True,
        )
    return measured, base


def report(name: str, comparisons: list[Comparison], out_dir: Path) -> dict[str, Any]:
    """Print ``comparisons`` as a Markdown table and write ``out_dir/<name>.json``."""
    print(f"\n### {name}\n")
    print("| what | residuo | baseline | ratio |")
    print("|---|---|---|---|")
    for each in comparisons:
        print(
            f"| {each.what} | {each.subject.shown()} {each.unit} | {each.baseline_name}: "
            f"{each.baseline.shown()} {each.unit} | {each.ratio.shown(2)}× |"
        )
    document = {"benchmark": name, "comparisons": [each.summary() for each in comparisons]}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    return document
