"""What every rule application needs: the transaction, the policy, the clock reading,
and where its entries and notifications go."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ledger.books import Entry, Line, post_entries, post_entry
from ledger.calendar import wall_clock
from ledger.outbox import outbox_row, retold_id
from ledger.policy import Policy
from ledger.store import schema
from ledger.store.uow import UnitOfWork
from messages.notifications import NotificationData

__all__ = ["Context", "Notice", "Staging"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification to queue: what ``Context.notify`` takes, as one value."""

    data: NotificationData
    cause: str
    time: datetime


@dataclass(slots=True)
class Staging:
    """Where a re-derivation's entries and notifications go instead of the journal and
    the outbox: ``ledger.corrections`` compares them with what was booked and told.
    ``late_event_id``: the event whose coming late asked for it; every other event of
    the derivation is applied again."""

    late_event_id: str | None = None
    entries: list[Entry] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Context:
    """One unit of work applying the rules under one policy.

    ``recorded_at`` is when residuo writes (wall clock, for audit only); every rule
    reads business time from the event or the sweep's ``as_of`` instead. ``event_id``
    names the event being applied, which the notifications it causes carry. With
    ``staging``, entries and notifications are collected there rather than written.
    ``booked`` keeps, per customer, the latest effective time an entry was booked at:
    how far their books now reach (``ledger.timeline``).
    """

    uow: UnitOfWork
    policy: Policy
    recorded_at: datetime
    event_id: str | None = None
    staging: Staging | None = None
    booked: dict[str, datetime] = field(default_factory=dict)

    def applies_again(self, event_id: str) -> bool:
        """Whether ``event_id`` is being applied again by a derivation (not for the first
        time, as the event that came late)."""
        return self.staging is not None and self.staging.late_event_id != event_id

    def local(self, instant: datetime) -> datetime:
        """``instant`` in the business time zone, as notifications show it: as its clocks
        showed it, however ``instant`` was spelled (``calendar.wall_clock``)."""
        return wall_clock(instant, self.policy.zone)

    def notify(
        self, data: NotificationData, *, cause: str, time: datetime, derived: bool = True
    ) -> None:
        """Queue a notification in this transaction; a twin of one already queued (same
        type and cause) is left out. ``derived``: what the rules say about the books,
        which a correction may take back; not a reminder, a summary or a report."""
        self.notify_all([Notice(data, cause, time)], derived=derived)

    def notify_all(self, notices: Sequence[Notice], *, derived: bool = True) -> None:
        """Queue many notifications in one batched insert; twins are left out."""
        rows = [
            outbox_row(
                notice.data,
                cause=notice.cause,
                time=self.local(notice.time),
                recorded_at=self.recorded_at,
                derived=derived,
                event_id=self.event_id if derived else None,
            )
            for notice in notices
        ]
        if self.staging is not None:
            assert derived, "a re-derivation says only what the rules say"
            self.staging.notifications.extend(rows)
        elif derived:
            self.queue_derived(rows)
        elif rows:
            self.uow.insert_many(schema.outbox, rows, ignore_conflicts=True)

    def queue_derived(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert derived outbox rows (``outbox_row``, ``derived``), twins left out.

        A row is a twin when a notification of its rule (``rule_key``: same type, same
        cause) still stands. When every earlier one was voided by a correction, the
        books say it again, and it is told again under an id of its own
        (``outbox.retold_id``): a consumer rebuilding the truth from what stands must
        learn it."""
        if not rows:
            return
        column = schema.outbox.c
        inserted = {
            row.notification_id
            for row in self.uow.insert_many(
                schema.outbox,
                rows,
                ignore_conflicts=True,
                returning=[column.notification_id],
            )
        }
        absorbed = {row["rule_key"]: row for row in rows if row["notification_id"] not in inserted}
        if not absorbed:
            return
        voided: dict[str, list[bool]] = {}
        for rule_key, voided_by in self.uow.connection.execute(
            select(column.rule_key, column.voided_by).where(column.rule_key.in_(sorted(absorbed)))
        ):
            voided.setdefault(rule_key, []).append(voided_by is not None)
        again = []
        for rule_key, row in absorbed.items():
            tellings = voided.get(rule_key, [])
            if tellings and all(tellings):
                identifier = retold_id(rule_key, len(tellings))
                envelope = json.loads(row["payload"]) | {"id": identifier}
                payload = json.dumps(envelope, separators=(",", ":"))
                again.append({**row, "notification_id": identifier, "payload": payload})
        if again:
            self.uow.insert_many(schema.outbox, again)

    def post(
        self,
        *,
        kind: str,
        customer_id: str,
        cause: str,
        effective_at: datetime,
        memo: str,
        lines: list[Line],
        order_id: str | None = None,
        credit_id: str | None = None,
    ) -> None:
        """Append a balanced journal entry in this transaction."""
        entry = Entry(kind, customer_id, cause, effective_at, memo, lines, order_id, credit_id)
        if self.staging is not None:
            self._track([entry])
            self.staging.entries.append(entry)
            return
        post_entry(
            self.uow,
            kind=kind,
            customer_id=customer_id,
            cause=cause,
            effective_at=effective_at,
            recorded_at=self.recorded_at,
            memo=memo,
            lines=lines,
            order_id=order_id,
            credit_id=credit_id,
        )
        self._track([entry])

    def post_entries(self, entries: Sequence[Entry]) -> None:
        """Append many balanced entries in this transaction, in three statements."""
        if self.staging is not None:
            self.staging.entries.extend(entries)
        else:
            post_entries(self.uow, entries, recorded_at=self.recorded_at)
        self._track(entries)

    def _track(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            latest = self.booked.get(entry.customer_id)
            if latest is None or entry.effective_at > latest:
                self.booked[entry.customer_id] = entry.effective_at
