"""Deriving a component's books again: its events replayed in business-time order on
cleared projections, with what the sweeps settled, through ``ledger.dispatch``.
"""

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, select, update

from ledger import dispatch, timeline
from ledger.context import Context, Staging
from ledger.outcomes import Applied, Outcome
from ledger.store import schema
from ledger.sweeps import PASSES, SweepTally, Window, settle_window
from messages.adjustments import ADJUSTMENT_TYPES, Adjustment, BookedEvent
from messages.inbound import CreditRequestedEvent, parse_inbound

__all__ = ["clear_projections", "derive", "frontiers", "lock_component", "outcome_of"]

# The sweeps whose effects are books (reminders are advice of the moment), in the
# order "all" runs them.
_SETTLING_SWEEPS: Final = ("spid_timeout", "holds", "expiry")


def lock_component(ctx: Context, seeds: Iterable[str]) -> timeline.Component:
    """The component of ``seeds``, every subject of it locked; found again once locked,
    until no concurrent event has joined it meanwhile."""
    component = timeline.component(ctx, set(seeds))
    while True:
        ctx.uow.lock(*component.subjects)
        again = timeline.component(ctx, component.subjects)
        if again.subjects == component.subjects:
            return again
        component = again


def derive(
    ctx: Context, component: timeline.Component, customers: frozenset[str], late_event_id: str
) -> Staging:
    """Replay the component's events in business-time order on projections cleared by
    ``clear_projections``, settling the sweeps between them as they ran; what it would
    write, collected."""
    events = _events_in_order(ctx, component.event_ids)
    staging = Staging(late_event_id=late_event_id)
    deriving = replace(ctx, staging=staging)
    if not events:
        return staging
    runs = deque(timeline.sweeps_since(ctx, _SETTLING_SWEEPS, since=events[0][0]))
    for position, event in events:
        _settle(deriving, customers, runs, upto=position)
        dispatch.apply_event(deriving, timeline.placed(event, position))
    _settle(deriving, customers, runs, upto=None)
    return staging


def clear_projections(ctx: Context, customers: frozenset[str]) -> None:
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


def _events_in_order(ctx: Context, event_ids: Iterable[str]) -> list[tuple[datetime, BookedEvent]]:
    """The component's events by position (``dispatch.same_instant_rank``, then the id,
    breaking ties), each made neutral in the inbox so that none is found parked before
    its turn comes."""
    column = schema.inbox.c
    ids = sorted(event_ids)
    rows = ctx.uow.connection.execute(
        select(column.position, column.event_type, column.payload).where(column.event_id.in_(ids))
    ).all()
    ctx.uow.connection.execute(
        update(schema.inbox)
        .where(column.event_id.in_(ids))
        .values(status=Outcome.APPLIED.value, order_id=None, detail=None)
    )
    events = [(row.position, _booked(ctx, row.event_type, row.payload)) for row in rows]
    return sorted(
        events,
        key=lambda each: (each[0], dispatch.same_instant_rank(each[1]), each[1].id),
    )


def _booked(ctx: Context, event_type: str, payload: Any) -> BookedEvent:
    if event_type in ADJUSTMENT_TYPES:
        return Adjustment.model_validate_json(json.dumps(payload))
    return parse_inbound(payload, currency=ctx.policy.currency)


def _settle(
    ctx: Context,
    customers: frozenset[str],
    runs: deque[tuple[datetime, str]],
    *,
    upto: datetime | None,
) -> None:
    """Settle the sweep runs (``as_of``, kind) due before the next event (at ``upto``),
    or all that are left (None), taking them off ``runs``.

    Each run settles as it did, at its own ``as_of``, never at an instant no sweep ran
    at: applied in order, an event finds a credit expired since the last run still
    there, and so must it derived. Consecutive runs of one kind settle as the last of
    them (each settles everything due by its ``as_of``); a run of another kind between
    them keeps them apart, since what one kind settles can change what the other
    finds."""
    due: list[tuple[datetime, str]] = []
    while runs and (upto is None or runs[0][0] <= upto):
        due.append(runs.popleft())
    for index, (as_of, kind) in enumerate(due):
        if index + 1 < len(due) and due[index + 1][1] == kind:
            continue
        settle_window(ctx, PASSES[kind], as_of, Window(customers=customers), SweepTally())


def outcome_of(ctx: Context, event: BookedEvent) -> Applied:
    """What became of ``event`` once its component was derived again: its inbox row,
    and for a credit request turned down, the request's reason."""
    status, detail = ctx.uow.connection.execute(
        select(schema.inbox.c.status, schema.inbox.c.detail).where(
            schema.inbox.c.event_id == event.id
        )
    ).one()
    declined = None
    if status == Outcome.APPLIED and isinstance(event, CreditRequestedEvent):
        request = schema.credit_requests.c
        declined = ctx.uow.connection.execute(
            select(request.reason).where(
                request.request_id == event.data.request_id, request.outcome == "rejected"
            )
        ).scalar_one_or_none()
    return Applied(Outcome(status), detail=detail, declined=declined)


def frontiers(ctx: Context, component: timeline.Component) -> dict[str, datetime]:
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
