"""One sweep kind in two checkouts, pair by pair, against its SQL baseline.

    uv run python -m benchmarks.sweep_ab ../before --kind reminders --rows 100000

For each round: ``rows`` due rows are seeded with SQL (``sweep_seeds``), swept by the
other checkout (``before``, a directory holding residuo's packages, run with this
environment's interpreter), seeded again and swept by this one, then seeded again
and settled by the kind's one-statement baseline; every other round the two sweeps
swap places. A sweep runs in a fresh interpreter as ``benchmarks.sweeps`` runs it
(one run, chunks of 1,000, ``--threads`` threads), through the ``Ledger`` API both
checkouts share, and reports its wall time and its own CPU (user and system, seconds,
the imports left out). The two checkouts meet the same database,
server and box state within a pair, so their CPU ratio pair by pair says what a
change saves on the client with less noise than the suite's rounds, taken minutes
apart. ``--url``: a PostgreSQL database to use (emptied at every seeding!); without
it, a private server is started as the suite starts one. Prints a table and writes
``benchmarks/results/sweep-ab-<kind>.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks._kit import Comparison, Figure, report, servers
from benchmarks.sweep_seeds import KINDS, seed
from benchmarks.sweeps import sql_baseline_seconds
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade

__all__ = ["SWEEP_CHILD", "main"]


# The child, as benchmarks.sweeps runs a sweep, through the API both checkouts share;
# with the CPU of the sweep alone (not the imports').
SWEEP_CHILD = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from benchmarks.sweep_seeds import AS_OF, BUSINESS_DATE
from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
url, kind, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = create_database_engine(url)
ledger = Ledger(engine, Policy())
started, cpu = time.perf_counter(), time.process_time()
chunks = ledger.start_sweep_run(kind, BUSINESS_DATE, AS_OF)
with ThreadPoolExecutor(max_workers=threads) as pool:
    list(pool.map(partial(ledger.settle_sweep_chunk, kind, BUSINESS_DATE), chunks))
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "chunks": len(chunks)}))
"""


def _sweep(tree: Path, url: str, kind: str, threads: int) -> dict[str, Any]:
    """A run of ``kind`` in a fresh interpreter with ``tree``'s packages."""
    command = [sys.executable, "-c", SWEEP_CHILD, url, kind, str(threads)]
    # The tree first on the path, and as the working directory: its packages, not the
    # ones installed in this environment, are the ones imported.
    result = subprocess.run(
        command, cwd=tree, env={"PYTHONPATH": str(tree)}, check=True, capture_output=True
    )
    measured: dict[str, Any] = json.loads(result.stdout)
    return measured


def compare(url: str, plan: argparse.Namespace) -> dict[str, Any]:
    """Wall time and CPU of ``plan.before`` and of this checkout, and the SQL baseline,
    for ``plan.rounds`` pairs of ``plan.kind`` sweeps of ``plan.rows`` rows."""
    here = Path(__file__).resolve().parents[1]
    trees = {"before": plan.before.resolve(), "after": here}
    engine = create_database_engine(url)
    upgrade(engine)
    sides: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    baseline = Figure()
    for number in range(plan.rounds):
        order = ("before", "after") if number % 2 == 0 else ("after", "before")
        for side in order:
            seed(engine, plan.kind, plan.rows)
            sides[side].append(_sweep(trees[side], url, plan.kind, plan.threads))
        seed(engine, plan.kind, plan.rows)
        baseline.values.append(sql_baseline_seconds(url, plan.kind))
        shown = ", ".join(
            f"{side} {sides[side][-1]['seconds']:.2f} s ({sides[side][-1]['cpu_seconds']:.2f} CPU)"
            for side in order
        )
        print(
            f"  round {number + 1}/{plan.rounds}: {shown}, SQL {baseline.values[-1]:.2f} s",
            file=sys.stderr,
            flush=True,
        )
    engine.dispose()
    return {"sides": sides, "baseline": baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the other checkout's directory")
    parser.add_argument("--kind", choices=KINDS, default="reminders")
    parser.add_argument("--rows", type=int, default=100_000, help="due rows (100000)")
    parser.add_argument("--rounds", type=int, default=4, help="pairs (4)")
    parser.add_argument("--threads", type=int, default=1, help="threads settling chunks (1)")
    parser.add_argument("--url", help="a PostgreSQL database to use (emptied!)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    arguments = parser.parse_args()
    if arguments.url:
        measured = compare(arguments.url, arguments)
    else:
        with servers() as running:
            measured = compare(running.database(), arguments)
    sides, baseline = measured["sides"], measured["baseline"]
    label = f"{arguments.kind} sweep, {arguments.rows:,} due rows, {arguments.threads} thread(s)"
    comparisons = []
    for figure in ("seconds", "cpu_seconds"):
        before = f"before ({arguments.before.resolve().name})"
        comparison = Comparison(f"{label}: {figure}", before, "s")
        comparison.subject.values = [run[figure] for run in sides["after"]]
        comparison.baseline.values = [run[figure] for run in sides["before"]]
        comparisons.append(comparison)
    for side in ("before", "after"):
        comparison = Comparison(f"{label}: {side} against SQL", "set-based SQL", "s")
        comparison.subject.values = [run["seconds"] for run in sides[side]]
        comparison.baseline.values = list(baseline.values)
        comparisons.append(comparison)
    report(f"sweep-ab-{arguments.kind}", comparisons, arguments.out)


if __name__ == "__main__":
    main()
