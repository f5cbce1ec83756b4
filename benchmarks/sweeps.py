"""Every sweep kind against its set-based SQL baseline, at several sizes.

For each kind and size: ``n`` due rows seeded with SQL (``sweep_seeds``), then swept
as the scheduler has a worker sweep them: one run cut into chunks of 1,000, settled in
a fresh interpreter (so its RSS high-water mark is its own) by ``threads`` threads, as
a worker's threads take the run's ``sweep_chunk`` messages (``--threads``; with 1, one
chunk after the other), or by ``--processes`` such interpreters at once, as worker
replicas share a run's messages (the chunks dealt out in turn, each process with its
``threads``); seeded again, then settled by the kind's one-statement
baseline. Rounds interleave
the two. Figures: seconds (the ratio is how many times longer the sweep takes), rows
per second, and the sweep's RSS high-water mark, which stays flat across sizes when
memory does.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from sqlalchemy import Engine, text

from benchmarks._kit import Comparison, Figure
from benchmarks.sweep_seeds import AS_OF, BASELINES, BUSINESS_DATE, seed
from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade

__all__ = ["compare_sweeps", "sql_baseline_seconds"]


def _sweep_in_child(url: str, kind: str, threads: int, processes: int = 1) -> dict[str, Any]:
    """A run of ``kind`` in a fresh interpreter; with ``processes`` above 1, that
    interpreter starts the run and deals its chunks out to ``processes`` settlers."""
    command = [sys.executable, "-m", "benchmarks.sweeps", url, kind, str(threads), str(processes)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    measured: dict[str, Any] = json.loads(result.stdout)
    return measured


def _settle(ledger: Ledger, kind: str, chunks: list[int], threads: int) -> None:
    """``chunks`` settled by ``threads`` threads, each taking the next chunk as a worker
    thread takes the next message."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for settled in pool.map(partial(ledger.settle_sweep_chunk, kind, BUSINESS_DATE), chunks):
            if not settled.settled:
                raise RuntimeError(f"{kind}: a chunk of a fresh run was settled already")


def _sweep_here(url: str, kind: str, threads: int, processes: int) -> dict[str, Any]:
    """The scheduled run of ``kind``: started, then its chunks settled here by
    ``threads`` threads, or dealt out in turn to ``processes`` settlers, each a fresh
    interpreter with ``threads`` threads, imported and connected before the clock
    starts (a worker replica is up before the run's messages arrive). The RSS is the
    largest process's."""
    engine = create_database_engine(url)
    ledger = Ledger(engine, Policy())
    settlers = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sweeps", "--settle", url, kind, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes if processes > 1 else 0)
    ]
    for settler in settlers:
        assert settler.stdout is not None
        settler.stdout.readline()  # "ready"
    started = time.perf_counter()
    chunks = ledger.start_sweep_run(kind, BUSINESS_DATE, AS_OF)
    rss_mib: list[float] = []
    if settlers:
        for number, settler in enumerate(settlers):
            assert settler.stdin is not None
            settler.stdin.write(json.dumps(chunks[number :: len(settlers)]) + "\n")
            settler.stdin.flush()
        for settler in settlers:
            report, _ = settler.communicate()
            if settler.returncode:
                raise RuntimeError(f"{kind}: a settler failed ({settler.returncode})")
            rss_mib.append(json.loads(report)["rss_mib"])
    else:
        _settle(ledger, kind, chunks, threads)
    seconds = time.perf_counter() - started
    engine.dispose()
    rss_mib.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"seconds": seconds, "chunks": len(chunks), "rss_mib": max(rss_mib)}


def _settler(url: str, kind: str, threads: int) -> dict[str, Any]:
    """One of ``_sweep_here``'s settlers: ready once imported and connected, then
    settles the chunks it is sent (a JSON list on standard input)."""
    engine = create_database_engine(url)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    ledger = Ledger(engine, Policy())
    print("ready", flush=True)
    _settle(ledger, kind, json.loads(sys.stdin.readline()), threads)
    engine.dispose()
    return {"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def sql_baseline_seconds(url: str, kind: str) -> float:
    """Seconds the set-based SQL statement of ``kind`` takes on the rows seeded at ``url``."""
    engine = create_database_engine(url)
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text(BASELINES[kind]), {"as_of": AS_OF})
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def _require_notified(engine: Engine, kind: str, n: int) -> None:
    """Both sides must have done the work: a notification per due row at least."""
    with engine.connect() as connection:
        queued = connection.execute(text("SELECT count(*) FROM outbox")).scalar_one()
    if queued < n:
        raise RuntimeError(f"{kind}: {queued} notifications for {n} due rows")


def compare_sweeps(
    url: str,
    kinds: list[str],
    sizes: list[int],
    rounds: int,
    threads: int,
    *,
    processes: int = 1,
) -> list[Comparison]:
    """Seconds of the chunked sweep (its chunks settled by ``threads`` threads in each of
    ``processes`` processes) against its SQL baseline, per kind and size."""
    engine = create_database_engine(url)
    upgrade(engine)
    comparisons: list[Comparison] = []
    for kind in kinds:
        for n in sizes:
            print(f"sweep {kind} at {n:,} rows", file=sys.stderr, flush=True)
            comparison = Comparison(f"{kind} sweep, {n:,} due rows", "set-based SQL", "s")
            rss = Figure()
            for number in range(rounds):
                seed(engine, kind, n)
                measured = _sweep_in_child(url, kind, threads, processes)
                _require_notified(engine, kind, n)
                comparison.subject.values.append(measured["seconds"])
                rss.values.append(measured["rss_mib"])
                seed(engine, kind, n)
                comparison.baseline.values.append(sql_baseline_seconds(url, kind))
                _require_notified(engine, kind, n)
                print(
                    f"  round {number + 1}/{rounds}: {measured['seconds']:.2f} s vs "
                    f"{comparison.baseline.values[-1]:.2f} s, RSS {measured['rss_mib']:.0f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
            comparison.notes = {
                "rows": n,
                "threads": threads,
                "processes": processes,
                "rows_per_second": n / comparison.subject.median,
                "baseline_rows_per_second": n / comparison.baseline.median,
                "rss_high_water_mib": rss.summary(),
            }
            comparisons.append(comparison)
    engine.dispose()
    return comparisons


if __name__ == "__main__":
    if sys.argv[1] == "--settle":
        print(json.dumps(_settler(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        print(json.dumps(_sweep_here(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
