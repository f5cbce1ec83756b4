"""The benchmark suite, one command: ``uv run python -m benchmarks [--only …]``.

Each benchmark prints a Markdown table (median, spread of the rounds in brackets,
ratio to a baseline measured in the same run) and writes ``<out>/<name>.json``:

* ``cost``: an event in bare commits on PostgreSQL (``ledger_cost.bare_commits``);
* ``growth``: events/s with 1,000,000 orders and 100,000 transfers pre-booked
  against empty books (``ledger_cost.books_growth``);
* ``sweeps``: every sweep kind, its chunks settled by ``--threads`` threads as a
  worker's (in each of ``--processes`` processes, as worker replicas), against its
  set-based SQL baseline at 10k and 100k due rows, and 1M with ``--million``
  (``sweeps``);
* ``pipeline``: end-to-end through RabbitMQ, one worker process, against a no-op
  Dramatiq drain (``pipeline.end_to_end``);
* ``latency``: publish → notification percentiles at half the end-to-end rate
  (or ``--rate``) against an echo actor (``pipeline.latency``).

Servers as the tests get them (``benchmarks/_kit.py``). Figures from a shared or busy
machine only mean something as ratios; quote a quiet machine's.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from benchmarks._kit import Comparison, report, servers
from benchmarks.ledger_cost import bare_commits, books_growth
from benchmarks.pipeline import end_to_end, latency
from benchmarks.sweep_seeds import KINDS
from benchmarks.sweeps import compare_sweeps

_ALL = ("cost", "growth", "sweeps", "pipeline", "latency")


def main() -> None:
    # A SIGTERM (timeout, Ctrl-C's cousin) unwinds like an exception, so that the
    # servers and worker processes started here are stopped, never left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=_ALL, default=list(_ALL))
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--events", type=int, default=2_000, help="events a cost round (2000)")
    parser.add_argument("--pipeline-events", type=int, default=10_000, help="(10000)")
    parser.add_argument(
        "--threads", type=int, default=4, help="worker threads, pipeline and sweeps (4)"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="sweeps: processes sharing a run's chunks (1)"
    )
    parser.add_argument("--rate", type=float, help="latency rate, events/s")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="sweeps at 1,000,000 rows too")
    parser.add_argument("--orders", type=int, default=1_000_000, help="pre-booked (growth)")
    parser.add_argument("--transfers", type=int, default=100_000, help="pre-booked (growth)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--durable", action="store_true", help="private PostgreSQL with fsync on, as in production"
    )
    arguments = parser.parse_args()
    wanted = set(arguments.only)
    rounds = arguments.rounds
    needs_broker = bool(wanted & {"pipeline", "latency"})
    with servers(rabbitmq=needs_broker, durable=arguments.durable) as here:
        if "cost" in wanted:
            report("cost", [bare_commits(here.database(), arguments.events, rounds)], arguments.out)
        if "growth" in wanted:
            growth = books_growth(
                here.database(),
                here.database(),
                arguments.events,
                rounds,
                orders=arguments.orders,
                transfers=arguments.transfers,
            )
            report("growth", [growth], arguments.out)
        if "sweeps" in wanted:
            sizes = [*arguments.sizes, *([1_000_000] if arguments.million else [])]
            swept = compare_sweeps(
                here.database(),
                arguments.kinds,
                sizes,
                rounds,
                arguments.threads,
                processes=arguments.processes,
            )
            report("sweeps", swept, arguments.out)
        rate = arguments.rate
        if "pipeline" in wanted:
            through = end_to_end(
                here.database, here.vhost, arguments.pipeline_events, arguments.threads, rounds
            )
            report("pipeline", [through], arguments.out)
            rate = rate or through.subject.median / 2
        if "latency" in wanted:
            rate = rate or _saturating_rate(arguments.out) / 2
            waits = latency(
                here.database,
                here.vhost,
                arguments.pipeline_events // 2,
                arguments.threads,
                rate=rate,
                rounds=rounds,
            )
            report("latency", waits, arguments.out)


def _saturating_rate(out: Path) -> float:
    """The end-to-end rate of the last pipeline run written to ``out``."""
    document = json.loads((out / "pipeline.json").read_text())
    comparison: dict[str, dict[str, float]] = document["comparisons"][0]
    return comparison["subject"]["median"]


__all__ = ["Comparison", "main"]

if __name__ == "__main__":
    main()
