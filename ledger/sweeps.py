"""The daily sweeps as functions of an explicit ``as_of``, settled a chunk at a time.

Each effect is dated when it fell due (an expiry at ``expires_at``, a SPID
cancellation at its deadline, a lapsed hold at ``due_by``), never when the sweep
happened to run: a sweep after a three-day outage writes the same books as three
punctual ones. Each sweep is idempotent: what it settled no longer matches its query,
and every notification id is derived from its cause.

A sweep kind is one or more *passes*, each over one table's due rows in key order.
A pass is settled by *windows* of keys (``after`` < key ≤ ``upto``, at most ``limit``
rows), each window in one transaction, so memory stays flat whatever the number of
due rows and a window that crashed is simply settled again. Every pass settles a
window set-based, in a handful of statements whatever its size: expired credits
here, SPID timeouts and lapsed holds in ``ledger.sweep_settlement``, which writes
exactly what the functions events use (``cancel_spid_order``, ``release_hold``)
write row by row, so a sweep and an event never disagree on what a cancellation or
a release books.
"""

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import Column, ColumnElement, Connection, Row, Select, Table, select, update

from ledger.context import Context, Notice
from ledger.credit_book import forfeiture, to_credit_state
from ledger.money import cents_to_decimal
from ledger.policy import Policy
from ledger.rules import days_left, reminder_to_send
from ledger.store import schema
from ledger.sweep_settlement import cancel_overdue_spid_orders, release_lapsed_holds
from messages.notifications import CreditExpiringSoon, SpidDeadlineApproaching

__all__ = [
    "PASSES",
    "SWEEPS",
    "SweepKind",
    "SweepPass",
    "SweepTally",
    "Window",
    "chunk_boundaries",
    "settle_window",
]

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

    def merge(self, counts: Mapping[str, int], cents: Mapping[str, int]) -> None:
        """Add another tally's totals (a chunk's, read back from the database)."""
        self.counts.update(counts)
        self.cents.update(cents)


@dataclass(frozen=True, slots=True)
class Window:
    """Due rows with ``after`` < key ≤ ``upto`` (None: unbounded), at most ``limit``, of
    the ``customers`` given (None: everyone's). A whole-customers pass settles, besides,
    every other due row of the customers these name (``SweepPass.whole_customers``), so
    its window may settle more than ``limit`` rows: a customer's whole backlog."""

    after: str | None = None
    upto: str | None = None
    limit: int | None = None
    customers: frozenset[str] | None = None


Settle = Callable[[Context, datetime, Sequence[Row[Any]], SweepTally], None]


@dataclass(frozen=True, slots=True)
class SweepPass:
    """One table's due rows at ``as_of``, in key order, and how a window of them settles.

    ``lock`` takes the rows ``FOR UPDATE`` (PostgreSQL): a pass that moves money must
    not race an event spending the same credit.

    ``whole_customers``: the rows of one customer act on each other (lapsed holds give
    back money to the same credits, whose expiry a later release then forfeits), so a
    window settles every due row of each customer it names, in key order, wherever
    their keys fall: the books are then the same whatever order a run's chunks commit
    in (a worker's threads take them at once, a redelivery brings one late), and the
    same as a request settling what fell due for its customer. The rows are locked in
    one statement, in key order, holding no other: two windows (or a window and a
    request) locking rows of one customer take them in the same order, and cannot
    deadlock. (Advisory locks on the customers would serialise the same way, but a
    thousand of them a window can fill PostgreSQL's shared lock table.)
    """

    name: str
    table: Table
    key: Column[str]
    due: Callable[[datetime, Policy], ColumnElement[bool]]
    settle: Settle
    lock: bool = True
    whole_customers: bool = False

    def due_keys(self, as_of: datetime, policy: Policy) -> Select[str]:
        return select(self.key).where(self.due(as_of, policy)).order_by(self.key)


def settle_window(
    ctx: Context, sweep_pass: SweepPass, as_of: datetime, window: Window, tally: SweepTally
) -> str | None:
    """Settle the due rows of ``window`` in the caller's transaction; the last key seen,
    None when the window held no due row."""
    # A whole-customers window reads only whom it names; their rows are read locked next.
    columns = (
        (sweep_pass.key, sweep_pass.table.c.customer_id)
        if sweep_pass.whole_customers
        else (sweep_pass.table,)
    )
    query = select(*columns).where(sweep_pass.due(as_of, ctx.policy))
    if window.after is not None:
        query = query.where(sweep_pass.key > window.after)
    if window.upto is not None:
        query = query.where(sweep_pass.key <= window.upto)
    if window.customers is not None:
        query = query.where(sweep_pass.table.c.customer_id.in_(sorted(window.customers)))
    query = query.order_by(sweep_pass.key).limit(window.limit)
    if sweep_pass.lock and not sweep_pass.whole_customers:
        query = query.with_for_update()
    rows = ctx.uow.connection.execute(query).all()
    if not rows:
        return None
    due = _of_whole_customers(ctx, sweep_pass, as_of, rows) if sweep_pass.whole_customers else rows
    sweep_pass.settle(ctx, as_of, due, tally)
    # The window's own last key, not a wider row's: the next window starts after it.
    last: str = rows[-1]._mapping[sweep_pass.key.name]
    return last


def _of_whole_customers(
    ctx: Context, sweep_pass: SweepPass, as_of: datetime, rows: Sequence[Row[Any]]
) -> Sequence[Row[Any]]:
    """Every due row of the customers ``rows`` name, in key order, locked in that order
    (``SweepPass.whole_customers``). A row another window or a request settled
    meanwhile is no longer due, and left out."""
    customers = sorted({row.customer_id for row in rows})
    column = sweep_pass.table.c
    query = (
        select(sweep_pass.table)
        .where(sweep_pass.due(as_of, ctx.policy), ctx.uow.among(column.customer_id, customers))
        .order_by(sweep_pass.key)
    )
    if sweep_pass.lock:
        query = query.with_for_update()
    return ctx.uow.connection.execute(query).all()


def chunk_boundaries(
    connection: Connection, sweep_pass: SweepPass, as_of: datetime, policy: Policy, size: int
) -> Iterator[Window]:
    """Cut the pass's due rows into windows of about ``size`` keys, by keyset pagination:
    only every ``size``-th key leaves the database, so planning ten million rows holds
    ten thousand keys. The first window is open below and the last open above, so rows that fall due
    between planning and settling are still swept."""
    keys = sweep_pass.due_keys(as_of, policy)
    if connection.execute(keys.limit(1)).first() is None:
        return
    after: str | None = None
    while True:
        page = keys if after is None else keys.where(sweep_pass.key > after)
        upto = connection.execute(page.offset(size - 1).limit(1)).scalar()
        yield Window(after=after, upto=upto)
        if upto is None:
            return
        after = upto


def _settle_overdue_spid_orders(
    ctx: Context, as_of: datetime, rows: Sequence[Row[Any]], tally: SweepTally
) -> None:
    """R5: SPID orders not activated by their deadline are cancelled and become credit."""
    for order in cancel_overdue_spid_orders(ctx, rows):
        tally.add("cancelled", order.amount_cents)


def _settle_lapsed_holds(
    ctx: Context, as_of: datetime, rows: Sequence[Row[Any]], tally: SweepTally
) -> None:
    """R6: holds whose window passed unpaid are released (expired credit forfeited)."""
    for hold in release_lapsed_holds(ctx, rows):
        tally.add("released", hold.released)
        if hold.forfeited:
            tally.add("forfeited", hold.forfeited)


def _forfeit_expired_credits(
    ctx: Context, as_of: datetime, rows: Sequence[Row[Any]], tally: SweepTally
) -> None:
    """R4: unused, unheld credit is forfeited at ``expires_at`` (at its grant when granted
    already expired, ``CreditState.forfeited_at``), a window in five statements:
    the locked rows were read by the caller, one update moves every remainder to the
    forfeited bucket, two inserts post the entries, one queues the notifications."""
    credits = [to_credit_state(row) for row in rows]
    column = schema.credits.c
    ctx.uow.connection.execute(
        update(schema.credits)
        .where(ctx.uow.among(column.credit_id, [credit.credit_id for credit in credits]))
        .values(forfeited_cents=column.forfeited_cents + column.available_cents, available_cents=0)
    )
    effects = [
        forfeiture(ctx, credit, at=credit.forfeited_at, cause=f"{credit.credit_id}|expiry")
        for credit in credits
    ]
    ctx.post_entries([entry for entry, _ in effects])
    ctx.notify_all([notice for _, notice in effects])
    for credit in credits:
        tally.add("forfeited", credit.available)


def _remind_expiring_credits(
    ctx: Context, as_of: datetime, rows: Sequence[Row[Any]], tally: SweepTally
) -> None:
    """R10: credit about to expire with a remaining balance, each reminder at most once."""
    policy = ctx.policy
    credits = [to_credit_state(row) for row in rows]
    due = _due_reminders(
        ctx,
        "credit_expiry",
        [(credit.credit_id, credit.expires_at) for credit in credits],
        policy.credit_reminder_days,
        as_of,
    )
    notices = [
        Notice(
            CreditExpiringSoon(
                customer_id=credit.customer_id,
                credit_id=credit.credit_id,
                remaining=cents_to_decimal(credit.available),
                expires_at=ctx.local(credit.expires_at),
                days_left=days_left(credit.expires_at, as_of, policy),
            ),
            cause=_reminder_cause(credit.credit_id, credit.expires_at, due[credit.credit_id]),
            time=as_of,
        )
        for credit in credits
        if credit.credit_id in due
    ]
    ctx.notify_all(notices, derived=False)
    for _ in notices:
        tally.add("credit_expiring_soon")


def _remind_spid_deadlines(
    ctx: Context, as_of: datetime, rows: Sequence[Row[Any]], tally: SweepTally
) -> None:
    """R10: SPID orders whose activation deadline approaches, each reminder at most once."""
    policy = ctx.policy
    due = _due_reminders(
        ctx,
        "spid_deadline",
        [(row.order_id, row.activation_deadline) for row in rows],
        policy.spid_reminder_days,
        as_of,
    )
    notices = [
        Notice(
            SpidDeadlineApproaching(
                customer_id=row.customer_id,
                order_id=row.order_id,
                deadline=ctx.local(row.activation_deadline),
                days_left=days_left(row.activation_deadline, as_of, policy),
            ),
            cause=_reminder_cause(row.order_id, row.activation_deadline, due[row.order_id]),
            time=as_of,
        )
        for row in rows
        if row.order_id in due
    ]
    ctx.notify_all(notices, derived=False)
    for _ in notices:
        tally.add("spid_deadline_approaching")


def _due_reminders(
    ctx: Context,
    kind: str,
    deadlines: Sequence[tuple[str, datetime]],
    offsets: tuple[int, ...],
    as_of: datetime,
) -> dict[str, int]:
    """Record the reminders due now for a window of subjects, in two statements; the
    offset claimed per subject. A reminder already recorded for the same deadline or a
    later one (by an earlier sweep, or a concurrent one) is not claimed again: the primary key of
    ``reminders`` decides. One recorded for an earlier deadline (the credit's expiry
    moved later since, by an operator) does not count: the new deadline is reminded
    anew."""
    column = schema.reminders.c
    deadline_of = dict(deadlines)
    sent: dict[str, set[int]] = {}
    for subject_id, deadline, days_before in ctx.uow.connection.execute(
        select(column.subject_id, column.deadline, column.days_before).where(
            column.kind == kind, ctx.uow.among(column.subject_id, deadline_of)
        )
    ):
        # A mark told for this deadline or a later one counts: a deadline that late
        # evidence moved a day earlier is not reminded at that mark again; one that
        # an operator moved later is.
        if deadline >= deadline_of[subject_id]:
            sent.setdefault(subject_id, set()).add(days_before)
    wanted = {
        subject_id: offset
        for subject_id, deadline in deadlines
        if (
            offset := reminder_to_send(
                deadline,
                offsets,
                as_of=as_of,
                already_sent=sent.get(subject_id, ()),
                policy=ctx.policy,
            )
        )
        is not None
    }
    if not wanted:
        return {}
    claimed = ctx.uow.insert_many(
        schema.reminders,
        [
            {
                "subject_id": subject,
                "kind": kind,
                "deadline": deadline_of[subject],
                "days_before": offset,
                "sent_at": as_of,
            }
            for subject, offset in wanted.items()
        ],
        ignore_conflicts=True,
        returning=(column.subject_id, column.days_before),
    )
    return {row.subject_id: row.days_before for row in claimed}


def _reminder_cause(subject_id: str, deadline: datetime, days_before: int) -> str:
    """A reminder's cause, hence its notification id: one per subject, deadline and
    offset, so a moved deadline's reminders are told under ids of their own."""
    # Spelled field by field: ``strftime`` costs three times as much, and a sweep
    # names a thousand reminders a window. The year unpadded, as glibc's ``%Y``
    # spelled it when these ids were first given.
    at = deadline.astimezone(UTC)
    return (
        f"{subject_id}|{at.year}-{at.month:02}-{at.day:02}"
        f"T{at.hour:02}:{at.minute:02}:{at.second:02}Z|{days_before}"
    )


def _reminder_horizon(as_of: datetime, offsets: tuple[int, ...]) -> datetime:
    # Reminders fall due by business date, so a deadline late in the day is up to a
    # day past the offset, and a DST night can add an hour: two days of margin cover
    # both, and the rule decides exactly.
    return as_of + timedelta(days=max(offsets, default=0) + 2)


_orders = schema.orders.c
_credits = schema.credits.c
_transfers = schema.transfers.c

PASSES: dict[str, SweepPass] = {
    each.name: each
    for each in (
        SweepPass(
            "spid_timeout",
            schema.orders,
            _orders.order_id,
            lambda as_of, _: (
                (_orders.status == "awaiting_activation") & (_orders.activation_deadline <= as_of)
            ),
            _settle_overdue_spid_orders,
        ),
        SweepPass(
            "holds",
            schema.transfers,
            _transfers.request_id,
            lambda as_of, _: (_transfers.status == "awaiting_topup") & (_transfers.due_by <= as_of),
            _settle_lapsed_holds,
            whole_customers=True,
        ),
        SweepPass(
            "expiry",
            schema.credits,
            _credits.credit_id,
            # A credit granted after ``as_of`` did not exist then: a sweep judged at an
            # earlier instant (a catch-up, ``sweep --as-of``) leaves it to a later one.
            lambda as_of, _: (
                (_credits.available_cents > 0)
                & (_credits.expires_at <= as_of)
                & (_credits.granted_at <= as_of)
            ),
            _forfeit_expired_credits,
        ),
        SweepPass(
            "credit_reminders",
            schema.credits,
            _credits.credit_id,
            lambda as_of, policy: (
                (_credits.available_cents > 0)
                # A credit granted after as_of (its event processed late) did not
                # exist then: a reminder dated as_of would precede it.
                & (_credits.granted_at <= as_of)
                & (_credits.expires_at > as_of)
                & (_credits.expires_at <= _reminder_horizon(as_of, policy.credit_reminder_days))
            ),
            _remind_expiring_credits,
            lock=False,
        ),
        SweepPass(
            "spid_reminders",
            schema.orders,
            _orders.order_id,
            lambda as_of, policy: (
                (_orders.status == "awaiting_activation")
                & (_orders.activation_deadline > as_of)
                & (
                    _orders.activation_deadline
                    <= _reminder_horizon(as_of, policy.spid_reminder_days)
                )
            ),
            _remind_spid_deadlines,
            lock=False,
        ),
    )
}

# The order "all" runs them in: cancellations make credit, released holds may
# forfeit, expiry settles the rest, and reminders only speak of what survived.
SWEEPS: dict[SweepKind, tuple[SweepPass, ...]] = {
    "spid_timeout": (PASSES["spid_timeout"],),
    "holds": (PASSES["holds"],),
    "expiry": (PASSES["expiry"],),
    "reminders": (PASSES["credit_reminders"], PASSES["spid_reminders"]),
}
assert tuple(SWEEPS) == get_args(SweepKind)
