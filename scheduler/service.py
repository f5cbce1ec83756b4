"""The scheduler: one tick decides which run to send (the loop is ``scheduler.loop``).

Runs are dispatched one at a time, in business-date order and, within a date, in the
ledger's dependency order (cancellations, holds, expiry, reminders): the next run is
sent only once the previous one completed, so a catch-up after an outage replays the
missed days as punctual sweeps would have run them (reminders aside, which only the
latest date runs: ``scheduler.plan``), while each run still fans out
over every worker. Any number of replicas may tick at once: the run keys in the
database decide which one sends (``scheduler.runs``), never process memory.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine

from scheduler.plan import DueRun, Schedule, due_runs, latest_due_date, next_run_at
from scheduler.runs import RunRecord, claim, newest_business_date, resend_if_silent, runs_from

__all__ = ["Action", "Scheduler", "Tick"]

Send = Callable[[DueRun], None]


class Action(StrEnum):
    """What a tick did."""

    SENT = "sent"
    RESENT = "resent"
    WAITING = "waiting"
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class Tick:
    """A tick's outcome: what it did, to which run, and when to tick again.

    ``record`` is the run as the tick found it (None for a run it claimed);
    ``completed`` are the completed runs the tick read (those of the newest business
    date that has runs), for whoever reports on runs it sent.
    """

    action: Action
    run: DueRun | None
    wake_at: datetime
    record: RunRecord | None = None
    completed: tuple[RunRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Scheduler:
    """Sends the daily sweep runs of ``schedule`` through ``send``, once each."""

    engine: Engine
    schedule: Schedule
    send: Send
    poll_every: timedelta
    resend_after: timedelta

    def tick(self, now: datetime) -> Tick:
        """Send the next run due at ``now`` if nobody has, or re-send the one in flight
        if it went silent; otherwise say when to look again."""
        last_due = latest_due_date(now, self.schedule)
        since = newest_business_date(self.engine, not_after=last_due)
        known = {(run.kind, run.business_date): run for run in runs_from(self.engine, since)}
        completed = tuple(record for record in known.values() if record.completed)
        for due in self._in_dispatch_order(now, since, known):
            record = known.get((due.kind, due.business_date))
            if record is not None and record.completed:
                continue
            return replace(self._advance(due, record, now), completed=completed)
        return Tick(Action.IDLE, None, next_run_at(now, self.schedule), completed=completed)

    def _in_dispatch_order(
        self, now: datetime, since: date | None, known: dict[tuple[str, date], RunRecord]
    ) -> list[DueRun]:
        """The runs due from ``since``, and any older run left unfinished, oldest first."""
        due = {
            (run.kind, run.business_date): run for run in due_runs(now, self.schedule, since=since)
        }
        kinds = list(self.schedule.kinds)
        for key, record in known.items():
            if key not in due and not record.completed and record.kind in kinds:
                rank = kinds.index(record.kind)
                due[key] = DueRun(record.business_date, rank, record.kind, record.as_of)
        return sorted(due.values())

    def _advance(self, due: DueRun, record: RunRecord | None, now: datetime) -> Tick:
        again = now + self.poll_every
        if record is None:
            if not claim(self.engine, due, now=now):
                return Tick(Action.WAITING, due, again)
            self.send(due)
            return Tick(Action.SENT, due, again)
        silent_since = now - self.resend_after
        if record.last_sign_of_life > silent_since or not resend_if_silent(
            self.engine, record, now=now, silent_since=silent_since
        ):
            return Tick(Action.WAITING, due, again)
        # Sent again with the as_of it was claimed with, which the worker checks: the
        # run time may have been reconfigured since.
        due = replace(due, as_of=record.as_of)
        self.send(due)
        return Tick(Action.RESENT, due, again, record)
