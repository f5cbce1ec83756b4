"""The daily sweeps as functions of an explicit ``as_of``.

Each effect is dated when it fell due (an expiry at ``expires_at``, a SPID
cancellation at its deadline, a lapsed hold at ``due_by``), never when the sweep
happened to run: a sweep after a three-day outage writes the same books as three
punctual ones. Each sweep is idempotent: what it settled no longer matches its query,
and every notification id is derived from its cause.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import select

from ledger.context import Context
from ledger.credit_book import forfeit, load_credits, to_credit_state
from ledger.holds import release_hold
from ledger.money import cents_to_decimal
from ledger.orders import cancel_spid_order
from ledger.rules import days_left, reminder_to_send
from ledger.store import schema
from messages.notifications import CreditExpiringSoon, SpidDeadlineApproaching

__all__ = ["SWEEPS", "SweepKind", "SweepTally", "run_sweep"]

SweepKind = Literal["spid_timeout", "holds", "expiry", "reminders"]


@dataclass
class SweepTally:
    """Counts and cents by outcome, for ``sweep.completed``."""

    counts: Counter[str] = field(default_factory=Counter)
    cents: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: str, cents: int | None = None) -> None:
        self.counts[outcome] += 1
        if cents is not None:
            self.cents[outcome] += cents


def cancel_overdue_spid_orders(ctx: Context, as_of: datetime, tally: SweepTally) -> None:
    """R5: SPID orders not activated by their deadline are cancelled and become credit."""
    column = schema.orders.c
    overdue = ctx.uow.connection.execute(
        select(schema.orders)
        .where(column.status == "awaiting_activation", column.activation_deadline <= as_of)
        .order_by(column.order_id)
        .with_for_update()
    ).all()
    for order in overdue:
        if cancel_spid_order(ctx, order, cause=f"spid_timeout|{order.order_id}") is not None:
            tally.add("cancelled", order.amount_cents)


def release_lapsed_holds(ctx: Context, as_of: datetime, tally: SweepTally) -> None:
    """R6: holds whose window passed unpaid are released (expired credit forfeited)."""
    column = schema.transfers.c
    lapsed = ctx.uow.connection.execute(
        select(schema.transfers)
        .where(column.status == "awaiting_topup", column.due_by <= as_of)
        .order_by(column.request_id)
        .with_for_update()
    ).all()
    for held in lapsed:
        released, forfeited = release_hold(ctx, held, cause=f"holds|{held.request_id}")
        tally.add("released", released)
        if forfeited:
            tally.add("forfeited", forfeited)


def forfeit_expired_credits(ctx: Context, as_of: datetime, tally: SweepTally) -> None:
    """R4: unused, unheld credit is forfeited at ``expires_at``."""
    column = schema.credits.c
    expired_ids = ctx.uow.connection.execute(
        select(column.credit_id).where(column.available_cents > 0, column.expires_at <= as_of)
    ).scalars()
    for credit in load_credits(ctx, credit_ids=list(expired_ids)):
        cents = forfeit(ctx, credit, at=credit.expires_at, cause=f"{credit.credit_id}|expiry")
        tally.add("forfeited", cents)


def send_reminders(ctx: Context, as_of: datetime, tally: SweepTally) -> None:
    """R10: expiring credit and approaching SPID deadlines, each reminder at most once."""
    policy = ctx.policy
    # One extra day of horizon covers a DST-shortened day; the rule decides exactly.
    credit_horizon = as_of + timedelta(days=max(policy.credit_reminder_days, default=0) + 1)
    column = schema.credits.c
    expiring = ctx.uow.connection.execute(
        select(schema.credits)
        .where(
            column.available_cents > 0,
            column.expires_at > as_of,
            column.expires_at <= credit_horizon,
        )
        .order_by(column.credit_id)
    ).all()
    for row in expiring:
        credit = to_credit_state(row)
        offset = _claim_reminder(
            ctx,
            credit.credit_id,
            kind="credit_expiry",
            deadline=credit.expires_at,
            offsets=policy.credit_reminder_days,
            as_of=as_of,
        )
        if offset is None:
            continue
        ctx.notify(
            CreditExpiringSoon(
                customer_id=credit.customer_id,
                credit_id=credit.credit_id,
                remaining=cents_to_decimal(credit.available),
                expires_at=ctx.local(credit.expires_at),
                days_left=days_left(credit.expires_at, as_of, policy),
            ),
            cause=f"{credit.credit_id}|{offset}",
            time=as_of,
        )
        tally.add("credit_expiring_soon")
    spid_horizon = as_of + timedelta(days=max(policy.spid_reminder_days, default=0) + 1)
    order = schema.orders.c
    approaching = ctx.uow.connection.execute(
        select(schema.orders)
        .where(
            order.status == "awaiting_activation",
            order.activation_deadline > as_of,
            order.activation_deadline <= spid_horizon,
        )
        .order_by(order.order_id)
    ).all()
    for row in approaching:
        deadline: datetime = row.activation_deadline
        offset = _claim_reminder(
            ctx,
            row.order_id,
            kind="spid_deadline",
            deadline=deadline,
            offsets=policy.spid_reminder_days,
            as_of=as_of,
        )
        if offset is None:
            continue
        ctx.notify(
            SpidDeadlineApproaching(
                customer_id=row.customer_id,
                order_id=row.order_id,
                deadline=ctx.local(deadline),
                days_left=days_left(deadline, as_of, policy),
            ),
            cause=f"{row.order_id}|{offset}",
            time=as_of,
        )
        tally.add("spid_deadline_approaching")


def _claim_reminder(
    ctx: Context,
    subject_id: str,
    *,
    kind: str,
    deadline: datetime,
    offsets: tuple[int, ...],
    as_of: datetime,
) -> int | None:
    """Record the reminder due now for ``subject_id``; None if none is due or it was sent."""
    sent = ctx.uow.connection.execute(
        select(schema.reminders.c.days_before).where(
            schema.reminders.c.subject_id == subject_id, schema.reminders.c.kind == kind
        )
    ).scalars()
    offset = reminder_to_send(deadline, offsets, as_of=as_of, already_sent=sent, policy=ctx.policy)
    if offset is None:
        return None
    claimed = ctx.uow.insert_ignoring_conflicts(
        schema.reminders,
        {"subject_id": subject_id, "kind": kind, "days_before": offset, "sent_at": as_of},
    )
    return offset if claimed else None


SweepFunction = Callable[[Context, datetime, SweepTally], None]

# The order "all" runs them in: cancellations make credit, released holds may
# forfeit, expiry settles the rest, and reminders only speak of what survived.
SWEEPS: dict[SweepKind, SweepFunction] = {
    "spid_timeout": cancel_overdue_spid_orders,
    "holds": release_lapsed_holds,
    "expiry": forfeit_expired_credits,
    "reminders": send_reminders,
}
assert tuple(SWEEPS) == get_args(SweepKind)


def run_sweep(ctx: Context, kind: SweepKind, as_of: datetime) -> SweepTally:
    """Run one sweep kind at ``as_of`` in the caller's transaction."""
    tally = SweepTally()
    SWEEPS[kind](ctx, as_of, tally)
    return tally
