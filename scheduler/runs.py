"""Run keys in the database: claiming a run, re-sending a silent one, the last runs.

Every decision the scheduler takes about a run is a conditional write that only one
replica can win: a claim is ``INSERT … ON CONFLICT DO NOTHING`` on the run key (kind,
business date), a re-send is an update guarded by the run's ``sent_at`` and
``progress_at``. Whoever wins sends the message; the others see the run in flight.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, Row, func, or_, select, update

from ledger.store import schema
from ledger.store.uow import UnitOfWork
from scheduler.plan import DueRun

__all__ = [
    "RunRecord",
    "claim",
    "last_runs",
    "newest_business_date",
    "resend_if_silent",
    "runs_from",
]

_runs = schema.sweep_runs.c


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One scheduled run as ``sweep_runs`` keeps it; ``counts`` and ``cents`` are the
    totals of its ``sweep.completed`` (empty until it completes)."""

    kind: str
    business_date: date
    as_of: datetime
    status: str
    claimed_at: datetime
    sent_at: datetime
    send_count: int
    started_at: datetime | None
    progress_at: datetime | None
    completed_at: datetime | None
    chunks_total: int
    chunks_done: int
    counts: dict[str, int]
    cents: dict[str, int]

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    @property
    def last_sign_of_life(self) -> datetime:
        """When the run was last sent or last advanced."""
        return max(self.sent_at, self.progress_at or self.sent_at)


def last_runs(engine: Engine, *, limit: int = 12) -> list[RunRecord]:
    """The newest runs, newest business date first (for ``residuo status``)."""
    query = (
        select(schema.sweep_runs)
        .order_by(_runs.business_date.desc(), _runs.claimed_at.desc(), _runs.kind)
        .limit(limit)
    )
    with engine.connect() as connection:
        return _records(connection.execute(query))


def newest_business_date(engine: Engine, *, not_after: date) -> date | None:
    """The newest business date, up to ``not_after``, that has a run."""
    query = select(func.max(_runs.business_date)).where(_runs.business_date <= not_after)
    with engine.connect() as connection:
        newest: date | None = connection.execute(query).scalar()
        return newest


def runs_from(engine: Engine, since: date | None) -> list[RunRecord]:
    """Runs of business date ``since`` or later, and every run not completed."""
    unfinished = _runs.status != "completed"
    condition = unfinished if since is None else or_(_runs.business_date >= since, unfinished)
    with engine.connect() as connection:
        return _records(connection.execute(select(schema.sweep_runs).where(condition)))


def claim(engine: Engine, run: DueRun, *, now: datetime) -> bool:
    """Claim ``run``: True for the one caller that inserted its row, who must send it."""
    with UnitOfWork(engine) as uow:
        inserted = uow.insert_ignoring_conflicts(
            schema.sweep_runs,
            {
                "kind": run.kind,
                "business_date": run.business_date,
                "as_of": run.as_of,
                "status": "claimed",
                "claimed_at": now,
                "sent_at": now,
            },
        )
        uow.commit()
    return inserted == 1


def resend_if_silent(
    engine: Engine, run: RunRecord, *, now: datetime, silent_since: datetime
) -> bool:
    """Mark ``run`` sent again if it has neither been sent nor advanced since
    ``silent_since``: True for the one caller that did, who must send it."""
    guard = (
        (_runs.kind == run.kind)
        & (_runs.business_date == run.business_date)
        & (_runs.status != "completed")
        & (_runs.sent_at <= silent_since)
        & or_(_runs.progress_at.is_(None), _runs.progress_at <= silent_since)
    )
    with UnitOfWork(engine) as uow:
        won = uow.connection.execute(
            update(schema.sweep_runs)
            .where(guard)
            .values(sent_at=now, send_count=_runs.send_count + 1)
            .returning(_runs.kind)
        ).first()
        uow.commit()
    return won is not None


def _records(rows: Iterable[Row[Any]]) -> list[RunRecord]:
    return [
        RunRecord(
            kind=row.kind,
            business_date=row.business_date,
            as_of=row.as_of,
            status=row.status,
            claimed_at=row.claimed_at,
            sent_at=row.sent_at,
            send_count=row.send_count,
            started_at=row.started_at,
            progress_at=row.progress_at,
            completed_at=row.completed_at,
            chunks_total=row.chunks_total,
            chunks_done=row.chunks_done,
            counts=dict(row.counts or {}),
            cents=dict(row.cents or {}),
        )
        for row in rows
    ]
