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
  (projections of the journal) are rebuilt as the derivation left them;
* an activation applied before and parked now (the correction left its order unpaid:
  a live service lost what paid for it) is reported to ops (``event.rejected``,
  ``order_unpaid``): it waits for a payment again.

Only what differs is corrected: entries and notifications produced alike are kept.
Reminders are advice of the moment and are not re-derived.

An event later than the allowed lateness is not re-derived: ``would_change`` says what
re-deriving would have changed, for the ``event.late`` report, without keeping it.
"""

from collections.abc import Iterable
from dataclasses import replace

from ledger import inbox, timeline
from ledger.context import Context
from ledger.corrections.booking import book, report_too_late, report_unpaid
from ledger.corrections.comparison import (
    Changes,
    Correction,
    entry_changes,
    live_entries,
    live_notifications,
    notification_changes,
)
from ledger.corrections.derivation import (
    clear_projections,
    derive,
    frontiers,
    lock_component,
    outcome_of,
)
from ledger.corrections.write_order import planned_writes
from ledger.inbox import business_time
from messages.adjustments import BookedEvent
from messages.corrections import CorrectionReason

__all__ = ["Correction", "rederive", "report_too_late", "would_change"]


def rederive(
    ctx: Context,
    event: BookedEvent,
    subjects: Iterable[str],
    *,
    reason: CorrectionReason = "late_evidence",
) -> Correction | None:
    """Derive again the books of the component of ``event`` (already in the inbox, at
    its position) and correct what differs; None, changing nothing, when the component
    has history from before payloads were kept and cannot be derived again."""
    component = lock_component(ctx, subjects)
    if not component.rederivable:
        return None
    customers = frozenset(component.customers)
    # Cleared first: clearing waits on the rows a sweep's window still holds, so what
    # is read next includes what that window booked (READ COMMITTED reads it once
    # committed), and the derivation never books it a second time.
    clear_projections(ctx, customers)
    written = live_entries(ctx, customers)
    told = live_notifications(ctx, component)
    parked_before = inbox.parked_among(ctx, component.event_ids)
    staging = derive(ctx, component, customers, event.id)
    outcome = outcome_of(ctx, event)
    writes = planned_writes(
        ctx.uow, written, staging.entries, *entry_changes(written, staging.entries)
    )
    changes = Changes(writes, *notification_changes(told, staging.notifications))
    correction = Correction(
        correction_id=None,
        entries_reversed=changes.entries_reversed,
        entries_booked=changes.entries_booked,
        voided=sorted(row["type"] for row in changes.to_void),
        told=sorted(row["type"] for row in changes.to_tell),
        outcome=outcome,
    )
    if correction.changed_anything:
        correction = book(ctx, event, reason, correction, changes)
        assert correction.correction_id is not None
        unpaid = inbox.parked_among(ctx, component.event_ids) - parked_before
        report_unpaid(ctx, event, sorted(unpaid), correction.correction_id)
    timeline.advance(ctx, frontiers(ctx, component))
    return correction


def would_change(ctx: Context, event: BookedEvent, subjects: Iterable[str]) -> Correction | None:
    """What ``rederive`` would correct if ``event`` were at its business time, with
    nothing kept (a savepoint is rolled back)."""
    with ctx.uow.tried():
        timeline.set_position(ctx, event.id, business_time(event))
        return rederive(replace(ctx, booked={}), event, subjects)
