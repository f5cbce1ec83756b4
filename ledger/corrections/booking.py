"""Writing a correction: its row, the reversals and the entries booked anew, the
notifications voided and told anew; and the report of an event too late to correct.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, update

from ledger import timeline
from ledger.books import Entry, Line, post_entries
from ledger.context import Context
from ledger.corrections.comparison import Changes, Correction, Written
from ledger.dispatch import report_event
from ledger.inbox import business_time
from ledger.outbox import notification_id
from ledger.store import schema
from messages.adjustments import BookedEvent
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

__all__ = ["book", "report_too_late", "report_unpaid"]

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


def book(
    ctx: Context,
    event: BookedEvent,
    reason: CorrectionReason,
    correction: Correction,
    changes: Changes,
) -> Correction:
    """Write the correction: its row, its reversals and new entries in the order
    planned (``write_order``: the books never negative between two of them), then the
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
    entries = [
        _reversal(each, correction_id)
        if isinstance(each, Written)
        else replace(each, correction_id=correction_id)
        for each in changes.writes
    ]
    post_entries(ctx.uow, entries, recorded_at=ctx.recorded_at)
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
    _tell_anew(ctx, changes.to_tell)
    return replace(correction, correction_id=correction_id)


def _reversal(each: Written, correction_id: int) -> Entry:
    return Entry(
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


def _tell_anew(ctx: Context, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue the derived notifications not yet said (one whose earlier tellings were
    all voided is told again under an id of its own: ``Context.queue_derived``)."""
    ctx.queue_derived([{**row, "created_at": ctx.recorded_at} for row in rows])


def report_too_late(
    ctx: Context, event: BookedEvent, verdict: timeline.Verdict, would: Correction | None
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


def report_unpaid(
    ctx: Context, event: BookedEvent, event_ids: Sequence[str], correction_id: int
) -> None:
    """Tell ops (``event.rejected``, ``order_unpaid``) of each activation in
    ``event_ids`` that was applied and that correction ``correction_id`` (for ``event``)
    left parked: its order is no longer paid, and the activation waits for a payment."""
    column = schema.inbox.c
    rows = ctx.uow.connection.execute(
        select(column.event_id, column.event_type, column.order_id, column.position).where(
            column.event_id.in_(list(event_ids))
        )
    ).all()
    for row in sorted(rows, key=lambda each: (each.position, each.event_id)):
        report_event(
            ctx,
            row.event_id,
            row.event_type,
            "order_unpaid",
            f"{row.event_type} {row.event_id} of order {row.order_id} was applied, but "
            f"event {event.id} ({event.type}) came after and correction {correction_id} "
            f"left {row.order_id} unpaid: it waits for a payment again",
            cause=f"unpaid|{row.event_id}|{correction_id}",
            time=row.position,
        )
