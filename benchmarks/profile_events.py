"""Where an event's time goes: statements per event type, and a profile of one thread.

    uv run python -m benchmarks.profile_events [--customers 250] [--out DIR]

On a private PostgreSQL with ``pg_stat_statements`` (``benchmarks/_kit.py``), the
story of ``ledger_throughput`` is recorded phase by phase (first payments, then
failures, then transfers), the statistics reset before each phase: the statements
(BEGIN and COMMIT included) per event of each type, and the most frequent ones. A
second story is then recorded under ``cProfile`` in this thread: the functions with
the most time of their own, and that time grouped by where it is spent (waiting on
PostgreSQL, psycopg, SQLAlchemy, the ledger, pydantic, …). Prints Markdown, writes
``DIR/profile.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from benchmarks._kit import servers
from benchmarks.ledger_throughput import story
from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import InboundEvent

__all__ = ["main"]

_PHASES: tuple[tuple[str, Callable[[InboundEvent], bool]], ...] = (
    ("payment.received", lambda event: event.type == "payment.received"),
    ("activation.failed", lambda event: event.type == "activation.failed"),
    ("credit.requested (transfer)", lambda event: event.type == "credit.requested"),
)

# Where a function's own time is spent: the first place whose every pattern its file
# and name contain.
_PLACES = (
    ("waiting on PostgreSQL", ("psycopg", "wait")),
    ("psycopg", ("psycopg",)),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("pydantic", ("pydantic",)),
    ("JSON", ("json",)),
    ("structlog/logging", ("structlog", "logging")),
    ("residuo: ledger", ("/ledger/",)),
    ("residuo: messages", ("/messages/",)),
)


def _statements(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT query, calls FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND query NOT LIKE '%pg_stat_statements%' ORDER BY calls DESC"
            )
        ).all()
    return [(str(query), int(calls)) for query, calls in rows]


def _reset(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_stat_statements_reset()"))
        connection.commit()


def statements_per_event(engine: Engine, events: Sequence[InboundEvent]) -> list[dict[str, Any]]:
    """Per event type: statements per event and the most frequent statements."""
    ledger = Ledger(engine, Policy())
    measured = []
    for name, belongs in _PHASES:
        phase = [event for event in events if belongs(event)]
        _reset(engine)
        for event in phase:
            ledger.record(event)
        statements = _statements(engine)
        total = sum(calls for _, calls in statements)
        measured.append(
            {
                "event_type": name,
                "events": len(phase),
                "statements_per_event": total / len(phase),
                "top": [
                    {"per_event": calls / len(phase), "query": " ".join(query.split())[:160]}
                    for query, calls in statements[:30]
                ],
            }
        )
    return measured


def _place(filename: str, function: str) -> str:
    where = f"{filename}:{function}".lower()
    for place, patterns in _PLACES:
        if all(pattern in where for pattern in patterns):
            return place
    return "other (Python, stdlib)"


def profile(engine: Engine, events: Sequence[InboundEvent]) -> dict[str, Any]:
    """One thread recording ``events`` under cProfile: own time by place, top functions."""
    ledger = Ledger(engine, Policy())
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for event in events:
        ledger.record(event)
    profiler.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    own: Counter[str] = Counter()
    functions = []
    all_calls = 0
    for (filename, line, function), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        all_calls += calls
        own[_place(filename, function)] += tottime
        functions.append((tottime, cumtime, calls, f"{Path(filename).name}:{line}({function})"))
    total = sum(own.values())
    functions.sort(reverse=True)
    return {
        "events": len(events),
        "wall_ms_per_event": 1000 * wall / len(events),
        # Deterministic, unlike the times: what the client does per event, whatever
        # else the machine is doing.
        "python_calls_per_event": all_calls / len(events),
        "by_place": {place: seconds / total for place, seconds in own.most_common()},
        "top_own_time": [
            {
                "function": name,
                "own_ms_per_event": 1000 * tottime / len(events),
                "cumulative_ms_per_event": 1000 * cumtime / len(events),
                "calls_per_event": calls / len(events),
            }
            for tottime, cumtime, calls, name in functions[:20]
        ],
    }


def _print(statements: list[dict[str, Any]], profiled: dict[str, Any]) -> None:
    print("\n### Statements per event (pg_stat_statements, BEGIN and COMMIT included)\n")
    print("| event type | events | statements per event |")
    print("|---|---|---|")
    for each in statements:
        print(f"| {each['event_type']} | {each['events']} | {each['statements_per_event']:.1f} |")
    for each in statements:
        print(f"\n#### {each['event_type']}\n")
        print("| per event | statement |")
        print("|---|---|")
        for top in each["top"]:
            query = top["query"].replace("|", "\\|")
            print(f"| {top['per_event']:.2f} | `{query}` |")
    print(
        f"\n### One thread's time ({profiled['wall_ms_per_event']:.2f} ms per event, "
        f"{profiled['python_calls_per_event']:,.0f} Python calls per event)\n"
    )
    print("| where | share of own time |")
    print("|---|---|")
    for place, share in profiled["by_place"].items():
        print(f"| {place} | {100 * share:.0f}% |")
    print("\n| function | own ms/event | cumulative ms/event | calls/event |")
    print("|---|---|---|---|")
    for top in profiled["top_own_time"]:
        print(
            f"| `{top['function']}` | {top['own_ms_per_event']:.3f} | "
            f"{top['cumulative_ms_per_event']:.3f} | {top['calls_per_event']:.1f} |"
        )


def main() -> None:
    # A SIGTERM unwinds like an exception: the servers started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=250, help="story size (4 events each)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    arguments = parser.parse_args()
    with servers() as here:
        if not here.statements_tracked:
            raise SystemExit("pg_stat_statements is not loaded on this server")
        engine = create_database_engine(here.database())
        upgrade(engine)
        # Statements compiled and caches filled first, as in a worker that has run a while.
        warm_ledger = Ledger(engine, Policy())
        for event in story(50, first=900_000):
            warm_ledger.record(event)
        statements = statements_per_event(engine, list(story(arguments.customers)))
        profiled = profile(engine, list(story(arguments.customers, first=500_000)))
        engine.dispose()
    _print(statements, profiled)
    arguments.out.mkdir(parents=True, exist_ok=True)
    document = {"statements": statements, "profile": profiled}
    (arguments.out / "profile.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
