"""Corrections: the one way books already written change.

A late event (``ledger.timeline``) can change what the books say after it: a credit
that expired had been spent in time, a hold had been paid before it lapsed, a request
refused for want of credit had credit after all. Rule modules never learn that an
event came late. Instead, the *component* of events connected to it by shared subjects
is derived again, in business-time order, by the very code that applied them
(``ledger.dispatch``), with the sweeps settled at the instants they ran; the entries
and notifications it produces are then compared with the ones already written:

* an entry no longer produced is **reversed**: a new entry, same effective time,
  postings negated, pointing at the one it cancels (``reverses_entry_id``); an entry
  newly produced is booked. Nothing is edited or deleted: the journal stays
  append-only, and, read at any business time, it shows the corrected books (as
  Formance's backdated transactions do); read at a recorded time, what it said then;
* a notification no longer produced, or produced differently, is **voided** by one of
  its own (``messages.corrections``), and what is true now is told under a new id;
* the per-credit buckets, orders, transfers, top-ups and requests of the component
  (projections of the journal) are rebuilt as the derivation left them.

Only what differs is corrected: entries and notifications produced alike are kept.
Reminders are advice of the moment and are not re-derived.

An event later than the allowed lateness is not re-derived: ``would_change`` says what
re-deriving would have changed, for the ``event.late`` report, without keeping it.
"""

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import aliased

from ledger import dispatch, timeline
from ledger.books import Account, Entry, Line, post_entries
from ledger.context import Context, Staging
from ledger.inbox import business_time
from ledger.outbox import NOTIFICATION_NAMESPACE, notification_id
from ledger.outcomes import Applied, Outcome
from ledger.store import schema
from ledger.sweeps import PASSES, SweepTally, Window, settle_window
from messages.corrections import (
    CorrectionReason,
    CreditReinstated,
    EventLate,
    HoldReinstated,
    LateEventEffects,
    NotificationVoided,
    RequestReconsidered,
    SpidOrderReinstated,
)
from messages.inbound import InboundEvent, parse_inbound

__all__ = ["Correction", "rederive", "report_too_late", "would_change"]

# The sweeps whose effects are books (reminders are advice of the moment), in the
# order "all" runs them.
_SETTLING_SWEEPS: Final = ("spid_timeout", "holds", "expiry")

_VOIDED_BY: Final[Mapping[str, type[NotificationVoided]]] = {
    "credit.expired": CreditReinstated,
    "hold.released": HoldReinstated,
    "spid.order_cancelled": SpidOrderReinstated,
    "credit.applied": RequestReconsidered,
    "topup.required": RequestReconsidered,
    "order.funded": RequestReconsidered,
    "refund.requested": RequestReconsidered,
    "request.rejected": RequestReconsidered,
}
"""What a voided notification of each type is taken back by (``notification.voided``
for any other)."""


@dataclass(frozen=True, slots=True)
class Correction:
    """What a correction changed: entries reversed and booked, and the types of the
    notifications voided and told anew. ``outcome`` is what became of the late event."""

    correction_id: int | None
    entries_reversed: int
    entries_booked: int
    voided: list[str]
    told: list[str]
    outcome: Applied

    @property
    def changed_anything(self) -> bool:
        return bool(self.entries_reversed or self.entries_booked or self.voided or self.told)

    def summary(self) -> dict[str, Any]:
        """The JSON kept with the correction."""
        return {
            "entries_reversed": self.entries_reversed,
            "entries_booked": self.entries_booked,
            "voided": self.voided,
            "told": self.told,
        }


def rederive(
    ctx: Context,
    event: InboundEvent,
    subjects: Iterable[str],
    *,
    reason: CorrectionReason = "late_evidence",
) -> Correction | None:
    """Derive again the books of the component of ``event`` (already in the inbox, at
    its position) and correct what differs; None, changing nothing, when the component
    has history from before payloads were kept and cannot be derived again."""
    component = _lock_component(ctx, subjects)
    if not component.rederivable:
        return None
    customers = frozenset(component.customers)
    written = _live_entries(ctx, customers)
    told = _live_notifications(ctx, component)
    staging = _derive(ctx, component, customers)
    outcome = _outcome_of(ctx, event.id)
    changes = _Changes(
        *_entry_changes(written, staging.entries),
        *_notification_changes(told, staging.notifications),
    )
    correction = Correction(
        correction_id=None,
        entries_reversed=len(changes.to_reverse),
        entries_booked=len(changes.to_book),
        voided=sorted(row["type"] for row in changes.to_void),
        told=sorted(row["type"] for row in changes.to_tell),
        outcome=outcome,
    )
    if correction.changed_anything:
        correction = _book(ctx, event, reason, correction, changes)
    timeline.advance(ctx, _frontiers(ctx, component))
    return correction


def would_change(ctx: Context, event: InboundEvent, subjects: Iterable[str]) -> Correction | None:
    """What ``rederive`` would correct if ``event`` were at its business time, with
    nothing kept (a savepoint is rolled back)."""
    savepoint = ctx.uow.connection.begin_nested()
    try:
        timeline.set_position(ctx, event.id, business_time(event))
        return rederive(replace(ctx, booked={}), event, subjects)
    finally:
        savepoint.rollback()


def report_too_late(
    ctx: Context, event: InboundEvent, verdict: timeline.Verdict, would: Correction | None
) -> None:
    """Tell ops (``event.late``) that ``event`` was judged against the books as they
    stood, and what it would have changed in time (``would``; None: history from before
    payloads were kept cannot say)."""
    assert verdict.watermark is not None
    effects = LateEventEffects(
        entries_reversed=would.entries_reversed if would else 0,
        entries_booked=would.entries_booked if would else 0,
        voided=would.voided if would else [],
        told=would.told if would else [],
    )
    lateness = verdict.watermark - business_time(event)
    detail = (
        f"{event.type} {event.id} came {lateness} behind the watermark, more than the "
        f"allowed lateness of {ctx.policy.allowed_lateness_days} days: placed at the "
        "settled horizon and judged against the books settled by then"
    )
    if would is None:
        detail += "; the books it touches predate kept payloads, so its effect in time is unknown"
    elif not would.changed_anything:
        detail += "; in time it would have changed nothing more"
    else:
        detail += "; in time it would have changed what would_have_changed counts"
    ctx.notify(
        EventLate(
            event_id=event.id,
            event_type=event.type,
            business_time=ctx.local(business_time(event)),
            watermark=ctx.local(verdict.watermark),
            allowed_lateness_days=ctx.policy.allowed_lateness_days,
            would_have_changed=effects,
            detail=detail,
        ),
        cause=f"late|{event.id}",
        time=business_time(event),
        derived=False,
    )


def _lock_component(ctx: Context, seeds: Iterable[str]) -> timeline.Component:
    """The component of ``seeds``, every subject of it locked; found again once locked,
    until no concurrent event has joined it meanwhile."""
    component = timeline.component(ctx, set(seeds))
    while True:
        ctx.uow.lock(*component.subjects)
        again = timeline.component(ctx, component.subjects)
        if again.subjects == component.subjects:
            return again
        component = again


# Deriving again ------------------------------------------------------------------------


def _derive(ctx: Context, component: timeline.Component, customers: frozenset[str]) -> Staging:
    """Replay the component's events in business-time order on cleared projections,
    settling the sweeps at the instants they ran; what it would write, collected."""
    _clear_projections(ctx, customers)
    events = _events_in_order(ctx, component.event_ids)
    staging = Staging()
    deriving = replace(ctx, staging=staging)
    swept = timeline.latest_sweeps(ctx)
    for position, event in events:
        _settle(deriving, customers, swept, upto=position)
        dispatch.apply_event(deriving, event)
    _settle(deriving, customers, swept, upto=None)
    return staging


def _clear_projections(ctx: Context, customers: frozenset[str]) -> None:
    """Forget the component's orders, credits, transfers, top-ups and requests: the
    derivation writes them again. The journal and the outbox are kept."""
    connection = ctx.uow.connection
    owned = sorted(customers)
    requests = select(schema.credit_requests.c.request_id).where(
        schema.credit_requests.c.customer_id.in_(owned)
    )
    credits = select(schema.credits.c.credit_id).where(schema.credits.c.customer_id.in_(owned))
    allocation = schema.allocations.c
    connection.execute(
        delete(schema.allocations).where(
            allocation.request_id.in_(requests) | allocation.credit_id.in_(credits)
        )
    )
    for table in (
        schema.transfers,
        schema.credit_requests,
        schema.topups,
        schema.credits,
        schema.orders,
    ):
        connection.execute(delete(table).where(table.c.customer_id.in_(owned)))


def _events_in_order(ctx: Context, event_ids: Iterable[str]) -> list[tuple[datetime, InboundEvent]]:
    """The component's events by position (``dispatch.same_instant_rank``, then the id,
    breaking ties), each made neutral in the inbox so that none is found parked before
    its turn comes."""
    column = schema.inbox.c
    ids = sorted(event_ids)
    rows = ctx.uow.connection.execute(
        select(column.position, column.payload).where(column.event_id.in_(ids))
    ).all()
    ctx.uow.connection.execute(
        update(schema.inbox)
        .where(column.event_id.in_(ids))
        .values(status=Outcome.APPLIED.value, order_id=None, detail=None)
    )
    events = [
        (row.position, parse_inbound(row.payload, currency=ctx.policy.currency)) for row in rows
    ]
    return sorted(
        events,
        key=lambda each: (each[0], dispatch.same_instant_rank(each[1]), each[1].id),
    )


def _settle(
    ctx: Context,
    customers: frozenset[str],
    swept: Mapping[str, datetime],
    *,
    upto: datetime | None,
) -> None:
    """Settle, before the next event (at ``upto``) or at the end (None), what the sweeps
    have settled by then: each kind up to its latest ``as_of``, no further than
    ``upto``. Rules judge at business time, so whether a sweep ran just before an event
    or long after it changes nothing they decide; what matters is what was settled."""
    for kind in _SETTLING_SWEEPS:
        as_of = swept.get(kind)
        if as_of is None:
            continue
        if upto is not None and upto < as_of:
            as_of = upto
        settle_window(ctx, PASSES[kind], as_of, Window(customers=customers), SweepTally())


def _outcome_of(ctx: Context, event_id: str) -> Applied:
    status, detail = ctx.uow.connection.execute(
        select(schema.inbox.c.status, schema.inbox.c.detail).where(
            schema.inbox.c.event_id == event_id
        )
    ).one()
    return Applied(Outcome(status), detail=detail)


def _frontiers(ctx: Context, component: timeline.Component) -> dict[str, datetime]:
    """Each subject's latest position of an event applied (not left parked), after the
    derivation."""
    subject, inbox = schema.event_subjects.c, schema.inbox.c
    rows = ctx.uow.connection.execute(
        select(subject.subject, inbox.position)
        .join(schema.inbox, inbox.event_id == subject.event_id)
        .where(
            subject.subject.in_(sorted(component.subjects)),
            inbox.status != Outcome.PARKED.value,
        )
    ).all()
    latest: dict[str, datetime] = {}
    for name, position in rows:
        if name not in latest or position > latest[name]:
            latest[name] = position
    return latest


# Comparing -----------------------------------------------------------------------------

EntryKey = tuple[Any, ...]


def _entry_key(entry: Entry) -> EntryKey:
    lines = tuple(
        sorted(
            (line.account.value, line.credit_id or "", line.amount_cents) for line in entry.lines
        )
    )
    return (
        entry.kind,
        entry.customer_id,
        entry.cause,
        entry.order_id,
        entry.credit_id,
        entry.effective_at.astimezone(UTC),
        entry.memo,
        lines,
    )


@dataclass(frozen=True, slots=True)
class _Written:
    entry_id: int
    entry: Entry


def _live_entries(ctx: Context, customers: frozenset[str]) -> list[_Written]:
    """The component's entries that stand: neither reversals nor reversed."""
    entry, posting = schema.journal_entries.c, schema.postings.c
    reversal = aliased(schema.journal_entries)
    rows = ctx.uow.connection.execute(
        select(schema.journal_entries)
        .where(
            entry.customer_id.in_(sorted(customers)),
            entry.reverses_entry_id.is_(None),
            ~exists().where(reversal.c.reverses_entry_id == entry.entry_id),
        )
        .order_by(entry.entry_id)
    ).all()
    lines: dict[int, list[Line]] = {}
    ids = [row.entry_id for row in rows]
    for line in ctx.uow.connection.execute(
        select(posting.entry_id, posting.account, posting.credit_id, posting.amount_cents)
        .where(posting.entry_id.in_(ids))
        .order_by(posting.posting_id)
    ):
        lines.setdefault(line.entry_id, []).append(
            Line(Account(line.account), line.amount_cents, line.credit_id)
        )
    return [
        _Written(
            row.entry_id,
            Entry(
                row.kind,
                row.customer_id,
                row.cause,
                row.effective_at,
                row.memo,
                lines.get(row.entry_id, []),
                row.order_id,
                row.credit_id,
            ),
        )
        for row in rows
    ]


def _entry_changes(
    written: Sequence[_Written], derived: Sequence[Entry]
) -> tuple[list[_Written], list[Entry]]:
    """What to reverse and what to book so that the standing entries are the derived
    ones, each the same number of times."""
    wanted = Counter(_entry_key(entry) for entry in derived)
    to_reverse = []
    for each in written:
        key = _entry_key(each.entry)
        if wanted[key] > 0:
            wanted[key] -= 1
        else:
            to_reverse.append(each)
    standing = Counter(_entry_key(each.entry) for each in written)
    to_book = []
    for entry in derived:
        key = _entry_key(entry)
        if standing[key] > 0:
            standing[key] -= 1
        else:
            to_book.append(entry)
    return to_reverse, to_book


def _live_notifications(ctx: Context, component: timeline.Component) -> list[dict[str, Any]]:
    """What the rules told about the component and still stands (not voided)."""
    column = schema.outbox.c
    rows = ctx.uow.connection.execute(
        select(column.notification_id, column.rule_key, column.type, column.payload)
        .where(
            column.derived.is_(True),
            column.voided_by.is_(None),
            column.event_id.in_(sorted(component.event_ids))
            | column.customer_id.in_(sorted(component.customers)),
        )
        .order_by(column.position)
    ).all()
    return [dict(row._mapping) for row in rows]


def _said(payload: str) -> tuple[Any, ...]:
    """What a notification says, its id aside."""
    envelope = json.loads(payload)
    return (envelope["type"], envelope["time"], json.dumps(envelope["data"], sort_keys=True))


def _notification_changes(
    told: Sequence[Mapping[str, Any]], derived: Sequence[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The standing notifications no longer said (or said otherwise), and the derived
    ones not yet said; matched by the id their cause gives them (``rule_key``), whatever
    id they were told under."""
    wanted: dict[str, Mapping[str, Any]] = {}
    for row in derived:
        wanted.setdefault(row["rule_key"], row)
    standing = {row["rule_key"]: row for row in told}
    to_void = [
        row
        for identifier, row in standing.items()
        if identifier not in wanted or _said(wanted[identifier]["payload"]) != _said(row["payload"])
    ]
    to_tell = [
        row
        for identifier, row in wanted.items()
        if identifier not in standing
        or _said(standing[identifier]["payload"]) != _said(row["payload"])
    ]
    return to_void, to_tell


# Booking -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Changes:
    """What makes the written books the derived ones."""

    to_reverse: list[_Written]
    to_book: list[Entry]
    to_void: list[Mapping[str, Any]]
    to_tell: list[Mapping[str, Any]]


def _book(
    ctx: Context,
    event: InboundEvent,
    reason: CorrectionReason,
    correction: Correction,
    changes: _Changes,
) -> Correction:
    """Write the correction: its row, reversals (latest first) then the new entries
    (oldest first), so the books are never negative between two of them, then the
    voids and what is told anew."""
    correction_id = ctx.uow.connection.execute(
        schema.corrections.insert().returning(schema.corrections.c.correction_id),
        {
            "kind": reason,
            "event_id": event.id,
            "recorded_at": ctx.recorded_at,
            "summary": correction.summary(),
        },
    ).scalar_one()
    reversals = [
        Entry(
            kind="reversal",
            customer_id=each.entry.customer_id,
            cause=f"correction|{correction_id}",
            effective_at=each.entry.effective_at,
            memo=f"reverses entry {each.entry_id} ({each.entry.kind}): {each.entry.memo}",
            lines=[_negated(line) for line in each.entry.lines],
            order_id=each.entry.order_id,
            credit_id=each.entry.credit_id,
            reverses_entry_id=each.entry_id,
            correction_id=correction_id,
        )
        for each in sorted(
            changes.to_reverse,
            key=lambda each: (each.entry.effective_at, each.entry_id),
            reverse=True,
        )
    ]
    booked = [replace(entry, correction_id=correction_id) for entry in changes.to_book]
    post_entries(ctx.uow, [*reversals, *booked], recorded_at=ctx.recorded_at)
    detail = f"event {event.id} ({event.type}) came after books it changes were written"
    for row in changes.to_void:
        _void(
            ctx,
            row,
            reason=reason,
            detail=detail,
            correction_id=correction_id,
            at=business_time(event),
        )
    _tell_anew(ctx, changes.to_tell, correction_id)
    return replace(correction, correction_id=correction_id)


def _negated(line: Line) -> Line:
    return Line(line.account, -line.amount_cents, line.credit_id)


def _void(
    ctx: Context,
    row: Mapping[str, Any],
    *,
    reason: CorrectionReason,
    detail: str,
    correction_id: int,
    at: datetime,
) -> None:
    data = json.loads(row["payload"])["data"]
    model = _VOIDED_BY.get(row["type"], NotificationVoided)
    voiding = model(
        customer_id=data.get("customer_id"),
        voided_id=row["notification_id"],
        voided_type=row["type"],
        reason=reason,
        detail=detail,
        correction_id=correction_id,
        credit_id=data.get("credit_id"),
        order_id=data.get("order_id"),
        request_id=data.get("request_id"),
    )
    cause = f"void|{row['notification_id']}|{correction_id}"
    ctx.notify(voiding, cause=cause, time=at, derived=False)
    ctx.uow.connection.execute(
        update(schema.outbox)
        .where(schema.outbox.c.notification_id == row["notification_id"])
        .values(voided_by=notification_id(voiding.TYPE, cause))
    )


def _tell_anew(ctx: Context, rows: Sequence[Mapping[str, Any]], correction_id: int) -> None:
    """Queue the derived notifications not yet said; one whose id was used before (by a
    notification since voided) gets an id of its own, derived from the correction."""
    if not rows:
        return
    column = schema.outbox.c
    used = set(
        ctx.uow.connection.execute(
            select(column.notification_id).where(
                column.notification_id.in_([row["notification_id"] for row in rows])
            )
        ).scalars()
    )
    fresh = []
    for row in rows:
        told = {**row, "created_at": ctx.recorded_at}
        if row["notification_id"] in used:
            identifier = str(
                uuid.uuid5(NOTIFICATION_NAMESPACE, f"{row['notification_id']}|{correction_id}")
            )
            envelope = json.loads(row["payload"]) | {"id": identifier}
            told |= {
                "notification_id": identifier,
                "payload": json.dumps(envelope, separators=(",", ":")),
            }
        fresh.append(told)
    ctx.uow.insert_many(schema.outbox, fresh, ignore_conflicts=True, long_text=True)
