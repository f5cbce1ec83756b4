"""A scheduled sweep run, cut into chunks that several workers settle.

A run is one sweep kind for one business date (``sweep_runs``, keyed by both). The
worker that receives it *starts* it: in one transaction it cuts every pass of the
kind into key windows (``sweep_chunks``) and hands back the chunks to send. Each
chunk is then *settled* in a transaction of its own that, together with the
effects, flips the chunk to ``done``, keeps its tally and counts it on the run row;
whichever transaction counts the last chunk completes the run and queues its one
``sweep.completed``. Nothing here lives in process memory, so:

* a run message delivered twice, or re-sent by hand, finds the run started (its
  pending chunks are handed back again) or completed (nothing to do);
* a chunk message delivered twice finds its chunk ``done``: the conditional update
  that claims it matches nothing, and on PostgreSQL a concurrent twin waits on the
  row lock and then finds it ``done`` too;
* a worker killed mid-chunk committed nothing: the redelivered chunk settles it whole.

A run's ``as_of`` is decided once, by whoever claims its row: the scheduler, at its
plan's run time for the date. ``claimed_as_of`` lets a worker check a run message
against that claim before it starts anything (``workers.actors``).
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, select, update

from ledger.context import Context
from ledger.money import cents_to_decimal
from ledger.store import schema
from ledger.sweeps import (
    PASSES,
    SWEEPS,
    SweepKind,
    SweepTally,
    Window,
    chunk_boundaries,
    settle_window,
)
from messages.notifications import SweepCompleted

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ChunkSettled",
    "claimed_as_of",
    "run_cause",
    "settle_chunk",
    "start_run",
]

DEFAULT_CHUNK_SIZE = 1_000
"""Rows per chunk: big enough that per-statement overhead vanishes, small enough that a
chunk's transaction is short and a crash redoes little."""

_runs = schema.sweep_runs.c
_chunks = schema.sweep_chunks.c


@dataclass(frozen=True, slots=True)
class ChunkSettled:
    """What settling one chunk message did."""

    settled: bool
    run_completed: bool
    tally: SweepTally


def run_cause(kind: str, business_date: date) -> str:
    """The cause of a run's ``sweep.completed``: its run key, so one run, one summary."""
    return f"sweep-run|{kind}|{business_date.isoformat()}"


def claimed_as_of(connection: Connection, kind: str, business_date: date) -> datetime | None:
    """The ``as_of`` the run of ``kind`` on ``business_date`` was claimed with; None
    when nobody claimed it. A run row is never deleted and its ``as_of`` never changes,
    so the answer holds outside any transaction."""
    key = (_runs.kind == kind) & (_runs.business_date == business_date)
    claimed: datetime | None = connection.execute(select(_runs.as_of).where(key)).scalar()
    return claimed


def start_run(
    ctx: Context, kind: SweepKind, business_date: date, as_of: datetime, *, chunk_size: int
) -> list[int]:
    """Cut the run into chunks, once; the chunk numbers still to settle.

    An existing run row keeps its own ``as_of``. Without one it is created with this
    ``as_of``: for callers that are their own scheduler (benchmarks, tests); the sweep
    actor refuses a message whose run is not claimed (``claimed_as_of``). A run with
    nothing due completes at once.
    """
    now = ctx.recorded_at
    ctx.uow.insert_ignoring_conflicts(
        schema.sweep_runs,
        {
            "kind": kind,
            "business_date": business_date,
            "as_of": as_of,
            "status": "claimed",
            "claimed_at": now,
            "sent_at": now,
        },
    )
    key = (_runs.kind == kind) & (_runs.business_date == business_date)
    run = ctx.uow.connection.execute(select(schema.sweep_runs).where(key).with_for_update()).one()
    if run.status == "completed":
        return []
    if run.status == "running":
        pending = select(_chunks.chunk_no).where(
            _chunks.kind == kind,
            _chunks.business_date == business_date,
            _chunks.status == "pending",
        )
        return list(ctx.uow.connection.execute(pending.order_by(_chunks.chunk_no)).scalars())
    windows = [
        (sweep_pass.name, window)
        for sweep_pass in SWEEPS[kind]
        for window in chunk_boundaries(
            ctx.uow.connection, sweep_pass, run.as_of, ctx.policy, chunk_size
        )
    ]
    chunks = [
        {
            "kind": kind,
            "business_date": business_date,
            "chunk_no": number,
            "pass_name": pass_name,
            "after_key": window.after,
            "upto_key": window.upto,
            "status": "pending",
        }
        for number, (pass_name, window) in enumerate(windows)
    ]
    if chunks:
        ctx.uow.connection.execute(schema.sweep_chunks.insert(), chunks)
    ctx.uow.connection.execute(
        update(schema.sweep_runs)
        .where(key)
        .values(status="running", chunks_total=len(chunks), started_at=now, progress_at=now)
    )
    if not chunks:
        _complete(ctx, kind, business_date, run.as_of)
    return list(range(len(chunks)))


def settle_chunk(ctx: Context, kind: SweepKind, business_date: date, chunk_no: int) -> ChunkSettled:
    """Settle one chunk, once; the run completes with the transaction that settles its last."""
    now = ctx.recorded_at
    tally = SweepTally()
    chunk_key = (
        (_chunks.kind == kind)
        & (_chunks.business_date == business_date)
        & (_chunks.chunk_no == chunk_no)
    )
    claimed = ctx.uow.connection.execute(
        update(schema.sweep_chunks)
        .where(chunk_key, _chunks.status == "pending")
        .values(status="done", settled_at=now)
        .returning(_chunks.pass_name, _chunks.after_key, _chunks.upto_key)
    ).one_or_none()
    if claimed is None:
        return ChunkSettled(settled=False, run_completed=False, tally=tally)
    run_key = (_runs.kind == kind) & (_runs.business_date == business_date)
    as_of: datetime = ctx.uow.connection.execute(select(_runs.as_of).where(run_key)).scalar_one()
    window = Window(after=claimed.after_key, upto=claimed.upto_key)
    settle_window(ctx, PASSES[claimed.pass_name], as_of, window, tally)
    ctx.uow.connection.execute(
        update(schema.sweep_chunks)
        .where(chunk_key)
        .values(counts=dict(tally.counts), cents=dict(tally.cents))
    )
    # Counted on the run row, not by looking for pending chunks: the row lock makes
    # concurrent last chunks count one after the other, so exactly one sees the total.
    progress = ctx.uow.connection.execute(
        update(schema.sweep_runs)
        .where(run_key)
        .values(chunks_done=_runs.chunks_done + 1, progress_at=now)
        .returning(_runs.chunks_done, _runs.chunks_total)
    ).one()
    completed = progress.chunks_done == progress.chunks_total
    if completed:
        _complete(ctx, kind, business_date, as_of)
    return ChunkSettled(settled=True, run_completed=completed, tally=tally)


def _complete(ctx: Context, kind: SweepKind, business_date: date, as_of: datetime) -> None:
    """Add up the chunks' tallies, close the run and queue its ``sweep.completed``."""
    totals = SweepTally()
    for counts, cents in ctx.uow.connection.execute(
        select(_chunks.counts, _chunks.cents).where(
            _chunks.kind == kind, _chunks.business_date == business_date
        )
    ):
        totals.merge(counts or {}, cents or {})
    ctx.uow.connection.execute(
        update(schema.sweep_runs)
        .where(_runs.kind == kind, _runs.business_date == business_date)
        .values(
            status="completed",
            completed_at=ctx.recorded_at,
            counts=dict(totals.counts),
            cents=dict(totals.cents),
        )
    )
    ctx.notify(
        SweepCompleted(
            kind=kind,
            as_of=ctx.local(as_of),
            counts=dict(totals.counts),
            amounts={outcome: cents_to_decimal(cents) for outcome, cents in totals.cents.items()},
        ),
        cause=run_cause(kind, business_date),
        time=as_of,
        derived=False,
    )
