"""The client's instructions per due row (or per event) in two checkouts, counted by
valgrind: an A/B that the noise of a shared machine does not move.

    uv run python -m benchmarks.instructions ../before --kind reminders
    uv run python -m benchmarks.instructions ../before --kind events --url URL

Wall and CPU seconds on a shared virtual machine swing by a quarter between two runs
of the same code; the instructions a process executes do not (the same count to a few
parts in a thousand, whatever else the machine does). For each checkout, a sweep of
``kind`` runs in a fresh interpreter under ``valgrind --tool=callgrind`` over
``--rows`` due rows seeded with SQL, as ``benchmarks.sweep_ab`` runs it (one thread),
once with the smaller count and once with the larger; the difference, divided by the
difference in rows, is the cost of a row with the start-up (interpreter, imports,
connection) taken out. ``--kind events`` records ``benchmarks.record_story``'s events
instead (``--rows`` is then events). Only the client is counted: PostgreSQL is another
process. Needs valgrind (Debian's package). A run under callgrind is about fifty times
slower: the default sizes take a few minutes a checkout.

Prints a table (after against before, per row) and writes
``benchmarks/results/instructions-<kind>.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy import make_url

from benchmarks._kit import Comparison, report, servers
from benchmarks.sweep_ab import SWEEP_CHILD
from benchmarks.sweep_seeds import KINDS, seed
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade

__all__ = ["main"]

_COLLECTED = re.compile(r"Collected : (\d+)")


def _instructions(tree: Path, command: list[str]) -> int:
    """Instructions ``command`` executes, run with ``tree``'s packages first on the path."""
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={scratch}/callgrind.out",
                *command,
            ],
            cwd=tree,
            env={"PYTHONPATH": str(tree)},
            check=True,
            capture_output=True,
            text=True,
        )
    found = _COLLECTED.search(result.stderr)
    if found is None:
        raise RuntimeError(f"valgrind reported no count:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def _count(tree: Path, url: str, kind: str, rows: int) -> int:
    """Instructions of one run of ``kind`` over ``rows`` in ``tree``."""
    if kind == "events":
        # record_story makes (and drops) a database of its own on the same server.
        server = make_url(url).set(database="postgres").render_as_string(hide_password=False)
        story = ["-m", "benchmarks.record_story", server, "--events", str(rows)]
        return _instructions(tree, [sys.executable, *story])
    engine = create_database_engine(url)
    upgrade(engine)
    seed(engine, kind, rows)
    engine.dispose()
    return _instructions(tree, [sys.executable, "-c", SWEEP_CHILD, url, kind, "1"])


def compare(url: str, plan: argparse.Namespace) -> Comparison:
    """Instructions per row of ``plan.kind``, this checkout against ``plan.before``."""
    here = Path(__file__).resolve().parents[1]
    small, large = sorted(plan.rows)
    comparison = Comparison(
        f"{plan.kind}: instructions per {'event' if plan.kind == 'events' else 'due row'} "
        f"({small:,} to {large:,})",
        f"before ({plan.before.resolve().name})",
        "",
    )
    for tree, figure in ((plan.before.resolve(), comparison.baseline), (here, comparison.subject)):
        counts = [_count(tree, url, plan.kind, rows) for rows in (small, large)]
        figure.values.append((counts[1] - counts[0]) / (large - small))
        print(f"  {tree}: {counts[0]:,} and {counts[1]:,} instructions", file=sys.stderr)
    comparison.notes = {"rows": [small, large]}
    return comparison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the other checkout's directory")
    parser.add_argument("--kind", choices=[*KINDS, "events"], default="reminders")
    parser.add_argument("--rows", type=int, nargs=2, default=[1_000, 4_000], help="(1000 4000)")
    parser.add_argument("--url", help="a PostgreSQL database to use (emptied!)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    arguments = parser.parse_args()
    if arguments.url:
        measured = compare(arguments.url, arguments)
    else:
        with servers() as running:
            measured = compare(running.database(), arguments)
    report(f"instructions-{arguments.kind}", [measured], arguments.out)


if __name__ == "__main__":
    main()
