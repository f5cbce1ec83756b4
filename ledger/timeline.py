"""Business time as the books have seen it: subjects, frontiers, the watermark, lateness.

Every event names *subjects*: the customers and the order numbers it is about
(``customer:<id>``, ``order:<number>``), and the customers who own the orders it names.
Two events that share a subject may change each other's outcome; so may an event and
an entry booked for a customer it names. How far in business time the books of a
subject reach is its *frontier*: the latest position of an event naming it and the
latest effective time of an entry booked for it. The largest frontier, sweeps' ``as_of``
included, is the *watermark*: the latest business time residuo has seen.

An event is judged against the frontiers of its subjects (``file_and_judge``):

* **in order**: not behind any of them. It is applied as it comes; nothing it could
  have changed has been written yet.
* **late**: behind a frontier, but no more than the allowed lateness (a policy setting)
  behind the watermark. The books of every event its subjects connect are derived
  again in business-time order and corrected (``ledger.corrections``).
* **too late**: further behind the watermark than that. The books up to the *settled
  horizon* (the watermark less the allowed lateness) are final: the event is placed
  at the horizon, judged against what was settled by then, its component derived again
  from there on as for a late event, and ops are told (``event.late``).

The watermark is read from the books, so a replay of a year of history behaves as
production did; but never later than the clock reading of the unit of work: an event
dated in the future (an upstream typo, 2062 for 2026) is not a business time residuo
has seen happen, and must not make every other customer's late event too late.

An event placed after its business time (too late) is applied as of its position
(``placed``): what it spends is judged against the books of that instant, so it is
booked there too.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Text,
    any_,
    bindparam,
    func,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ledger.context import Context
from ledger.rules import read_topup_reference
from ledger.store import schema
from messages.adjustments import Adjustment, BookedEvent
from messages.inbound import (
    ActivationCompletedEvent,
    ActivationFailedEvent,
    CreditRequestedEvent,
    PaymentReceivedEvent,
)

__all__ = [
    "Component",
    "OnceLocked",
    "Timeliness",
    "Verdict",
    "advance",
    "component",
    "customer_subject",
    "customers_of",
    "file_and_judge",
    "log_sweep",
    "order_subject",
    "placed",
    "set_position",
    "subjects_of",
    "sweeps_since",
    "watermark",
]

_CUSTOMER = "customer:"
_ORDER = "order:"
_SWEEP = "sweep:"
_CREDIT_PREFIX = "CR-"


def customer_subject(customer_id: str) -> str:
    """The subject of a customer; also the lock key of their requests."""
    return f"{_CUSTOMER}{customer_id}"


def order_subject(order_id: str) -> str:
    """The subject of an order number; also its lock key (``ledger.orders``)."""
    return f"{_ORDER}{order_id}"


def customers_of(subjects: Iterable[str]) -> set[str]:
    """The customer ids among ``subjects``."""
    return {each.removeprefix(_CUSTOMER) for each in subjects if each.startswith(_CUSTOMER)}


def _named(event: BookedEvent) -> tuple[set[str], set[str]]:
    """The customers and the order numbers an event names."""
    if isinstance(event, PaymentReceivedEvent):
        topup = read_topup_reference(event.data.reference)
        if topup is None:
            orders = {event.data.order_id}
        else:
            orders = {topup.order_id} if topup.order_id else set()
        return {event.data.customer_id}, orders
    if isinstance(event, ActivationCompletedEvent | ActivationFailedEvent):
        return set(), {event.data.order_id}
    if isinstance(event, Adjustment):
        credit = event.data.credit_id
        orders = {credit.removeprefix(_CREDIT_PREFIX)} if credit else set()
        return {event.data.customer_id}, orders
    assert isinstance(event, CreditRequestedEvent)
    request = event.data
    orders = {request.new_order.order_id} if request.new_order is not None else set()
    # A credit is named by its id, CR-<the order that produced it>.
    orders |= {
        credit_id.removeprefix(_CREDIT_PREFIX)
        for credit_id in request.credit_ids or ()
        if credit_id.startswith(_CREDIT_PREFIX)
    }
    return {request.customer_id}, orders


def _owners(
    naming: Callable[[ColumnElement[str]], ColumnElement[bool]],
) -> CompoundSelect[Any]:
    """The customers who paid the orders ``naming`` picks (by card, with credit)."""
    return union(
        *(
            select(table.c.customer_id).where(naming(table.c.order_id))
            for table in (schema.orders, schema.transfers)
        )
    )


_OWNERS: Final = _owners(lambda order_id: order_id.in_(bindparam("orders", expanding=True)))
"""The owners of the ``:orders`` named, before the locks (both backends), built once."""


def subjects_of(connection: Connection, event: BookedEvent) -> set[str]:
    """What ``event`` is about: the customers and orders it names, and the customers
    who paid the orders it names (read from the books through ``connection``)."""
    customers, orders = _named(event)
    if orders:
        customers |= set(connection.execute(_OWNERS, {"orders": sorted(orders)}).scalars())
    return _subjects(customers, orders)


def _subjects(customers: Iterable[str], orders: Iterable[str]) -> set[str]:
    return {customer_subject(each) for each in customers} | {order_subject(o) for o in orders}


class Timeliness(StrEnum):
    """How an event stands against the books already written (see the module doc)."""

    IN_ORDER = "in_order"
    LATE = "late"
    TOO_LATE = "too_late"


@dataclass(frozen=True, slots=True)
class Verdict:
    """An event's timeliness and its ``position``: its business time, or the settled
    horizon (watermark less the allowed lateness) for an event older than that. With
    the instants it was judged by: its subjects' latest frontier (None if nothing was
    written about them) and the watermark."""

    timeliness: Timeliness
    position: datetime
    frontier: datetime | None
    watermark: datetime | None
    rederivable: bool


@dataclass(frozen=True, slots=True)
class OnceLocked:
    """What an event finds once its subjects are locked (``file_and_judge``): its
    subjects as the books say now, and its verdict against the subjects it locked.
    Subjects that differ from those it locked make the verdict worthless: an order's
    owner committed while the event waited for the order's lock."""

    subjects: set[str]
    verdict: Verdict


def file_and_judge(
    ctx: Context, event: BookedEvent, subjects: Collection[str], at: datetime
) -> OnceLocked:
    """Once ``subjects`` are locked: file ``event`` under each of them, read its
    subjects again (``subjects_of``), and judge it at business time ``at`` against
    their frontiers (module doc). One statement on PostgreSQL, where an event issues
    it every time; three on SQLite."""
    if ctx.uow.dialect != "postgresql":
        found = subjects_of(ctx.uow.connection, event)
        _file_under(ctx, event.id, subjects)
        frontier, legacy = ctx.uow.connection.execute(
            _FRONTIER, {"subjects": sorted(subjects)}
        ).one()
        return OnceLocked(found, _verdict(ctx, at, frontier, legacy))
    customers, orders = _named(event)
    owners, frontier, legacy = ctx.uow.connection.execute(
        _FILED_AND_JUDGED,
        {"subjects": sorted(subjects), "orders": sorted(orders), "event_id": event.id},
    ).one()
    found = _subjects(customers | set(owners or ()), orders)
    return OnceLocked(found, _verdict(ctx, at, frontier, legacy))


def _verdict(ctx: Context, at: datetime, frontier: datetime | None, legacy: int) -> Verdict:
    # At the very instant of something already written, which of the two comes first
    # is for ``dispatch.same_instant_rank`` to say, not for arrival: derive again.
    if frontier is None or at > frontier:
        return Verdict(Timeliness.IN_ORDER, at, frontier, None, rederivable=not legacy)
    latest = watermark(ctx)
    assert latest is not None  # a frontier exists, so the watermark does
    horizon = latest - ctx.policy.allowed_lateness
    if at >= horizon:
        return Verdict(Timeliness.LATE, at, frontier, latest, rederivable=not legacy)
    return Verdict(Timeliness.TOO_LATE, horizon, frontier, latest, rederivable=not legacy)


def _file_under(ctx: Context, event_id: str, subjects: Collection[str]) -> None:
    if subjects:
        ctx.uow.insert_many(
            schema.event_subjects,
            [{"subject": subject, "event_id": event_id} for subject in sorted(subjects)],
            ignore_conflicts=True,
        )


_FRONTIER: Final = select(
    func.max(schema.subject_frontiers.c.frontier),
    func.count().filter(schema.subject_frontiers.c.rederivable.is_(False)),
).where(schema.subject_frontiers.c.subject.in_(bindparam("subjects", expanding=True)))
"""The subjects' frontier, and how many of them predate kept payloads (SQLite)."""


def _filed_and_judged() -> Any:
    """PostgreSQL, one statement (built once): the event filed under its subjects (a
    data-modifying CTE, run whether or not the query reads it), the customers who own
    the orders it names, and its subjects' frontier and count of legacy subjects. The
    statement's snapshot is taken once the locks are held, so it sees an owner that
    committed while the event waited for them."""
    filing = schema.event_subjects
    # Arrays of text, not of the columns' types: psycopg casts a parameter to its type,
    # and a cast to VARCHAR(64) cuts a longer value where a comparison would not (an
    # adjustment's credit id without its CR- prefix names an "order" 67 characters
    # long, which must match no order, as in ``subjects_of``'s read before the locks).
    subjects = bindparam("subjects", type_=postgresql.ARRAY(Text()))
    orders = bindparam("orders", type_=postgresql.ARRAY(Text()))
    filed = (
        postgresql.insert(filing)
        .from_select(
            ["subject", "event_id"],
            select(func.unnest(subjects), bindparam("event_id", type_=filing.c.event_id.type)),
        )
        .on_conflict_do_nothing()
        .cte("filed")
    )
    owned = _owners(lambda order_id: order_id == any_(orders)).subquery("owned")
    frontier = schema.subject_frontiers.c
    return (
        select(
            select(func.array_agg(owned.c.customer_id)).scalar_subquery(),
            func.max(frontier.frontier),
            func.count().filter(frontier.rederivable.is_(False)),
        )
        .where(frontier.subject == any_(subjects))
        .add_cte(filed)
    )


_FILED_AND_JUDGED: Final = _filed_and_judged()


def watermark(ctx: Context) -> datetime | None:
    """The latest business time the books have seen (events and sweeps), no later than
    the clock (``ctx.recorded_at``); None while they have seen none."""
    latest: datetime | None = ctx.uow.connection.execute(
        select(func.max(schema.subject_frontiers.c.frontier))
    ).scalar()
    return None if latest is None else min(latest, ctx.recorded_at)


def placed(event: BookedEvent, position: datetime) -> BookedEvent:
    """``event`` as applied at ``position``, the place ``judge`` gave it.

    An event placed after its business time (too late) is judged against the books of
    that instant, so what it spends (a credit request, an operator's adjustment) is
    booked there too, never earlier, where the credit it spends may not have been
    available (R11: no balance is negative at any instant). Evidence that only adds
    (payments, activation outcomes) keeps its own time: a credit's life runs from its
    facts. Anything else is returned as it is."""
    if isinstance(event, CreditRequestedEvent) and position > event.data.requested_at:
        data = event.data.model_copy(update={"requested_at": position})
        return event.model_copy(update={"data": data})
    if isinstance(event, Adjustment) and position > event.time:
        return event.model_copy(update={"time": position})
    return event


def advance(
    ctx: Context, frontiers: Mapping[str, datetime], *, watched: Collection[str] = ()
) -> datetime | None:
    """Move each subject's frontier forward to the instant given (never back), and every
    customer's to the latest entry booked for them in this unit of work; the largest
    frontier of the ``watched`` subjects as it stood just before (None: none), read in
    the same statement on PostgreSQL, to tell an event whether a sweep committed books
    past it while it was being applied."""
    wanted = dict(frontiers)
    for customer_id, effective_at in ctx.booked.items():
        subject = customer_subject(customer_id)
        if subject not in wanted or wanted[subject] < effective_at:
            wanted[subject] = effective_at
    rows = sorted(wanted.items())
    watching = sorted(watched)
    if ctx.uow.dialect == "postgresql":
        if not rows and not watching:
            return None
        before: datetime | None = ctx.uow.connection.execute(
            _ADVANCE_ALL,
            {
                "subjects": [subject for subject, _ in rows],
                "frontiers": [at for _, at in rows],
                "watched": watching,
            },
        ).scalar_one()
        return before
    before = _frontier_of(ctx, watching) if watching else None
    if rows:
        ctx.uow.connection.execute(
            _ADVANCE_ONE, [{"subject": subject, "frontier": at} for subject, at in rows]
        )
    return before


def _frontier_of(ctx: Context, subjects: Sequence[str]) -> datetime | None:
    frontier: datetime | None = ctx.uow.connection.execute(
        select(func.max(schema.subject_frontiers.c.frontier)).where(
            schema.subject_frontiers.c.subject.in_(subjects)
        )
    ).scalar_one()
    return frontier


def _advance_all() -> Any:
    """PostgreSQL, one statement: the watched subjects' largest frontier, read before
    every subject's frontier is moved (arrays unnested). A data-modifying CTE runs
    whether or not the query reads it, and the query's snapshot does not see it."""
    table = schema.subject_frontiers
    given = select(
        func.unnest(bindparam("subjects", type_=postgresql.ARRAY(table.c.subject.type))),
        func.unnest(bindparam("frontiers", type_=postgresql.ARRAY(table.c.frontier.type))),
    )
    insert = postgresql.insert(table).from_select(["subject", "frontier"], given)
    moved = insert.on_conflict_do_update(
        index_elements=[table.c.subject],
        set_={"frontier": func.greatest(table.c.frontier, insert.excluded.frontier)},
    ).cte("moved")
    watched = bindparam("watched", type_=postgresql.ARRAY(table.c.subject.type))
    return select(func.max(table.c.frontier)).where(table.c.subject == any_(watched)).add_cte(moved)


def _advance_one() -> Any:
    """SQLite, in process: one subject a row of an executemany. Its two-argument max()
    is the scalar greatest; its UTC texts sort in time."""
    table = schema.subject_frontiers
    insert = sqlite.insert(table)
    return insert.on_conflict_do_update(
        index_elements=[table.c.subject],
        set_={"frontier": func.max(table.c.frontier, insert.excluded.frontier)},
    )


# Built once: an event moves frontiers every time.
_ADVANCE_ALL: Final = _advance_all()
_ADVANCE_ONE: Final = _advance_one()


def set_position(ctx: Context, event_id: str, position: datetime) -> None:
    """Where ``event_id`` stands when the books are derived again."""
    ctx.uow.connection.execute(
        update(schema.inbox).where(schema.inbox.c.event_id == event_id).values(position=position)
    )


def log_sweep(ctx: Context, kind: str, as_of: datetime) -> None:
    """Remember that sweep ``kind`` settled everything due by ``as_of``: a derivation
    settles it there again, and the watermark moves to it."""
    ctx.uow.insert_many(schema.sweep_log, [{"kind": kind, "as_of": as_of}], ignore_conflicts=True)
    advance(ctx, {f"{_SWEEP}{kind}": as_of})


def sweeps_since(ctx: Context, kinds: Sequence[str], since: datetime) -> list[tuple[datetime, str]]:
    """The runs of the sweep ``kinds`` as of ``since`` or later, as ``(as_of, kind)``, in
    the order they settled: by ``as_of``, then in the order of ``kinds`` (the order
    ``all`` runs them in)."""
    column = schema.sweep_log.c
    runs = ctx.uow.connection.execute(
        select(column.as_of, column.kind).where(column.kind.in_(list(kinds)), column.as_of >= since)
    ).all()
    return sorted(
        ((as_of, kind) for as_of, kind in runs), key=lambda run: (run[0], kinds.index(run[1]))
    )


@dataclass(frozen=True, slots=True)
class Component:
    """Events whose subjects connect, directly or through one another, and those
    subjects: what a late event may have changed. ``rederivable`` is false when one
    of the subjects has history from before payloads were kept (migration 0005)."""

    subjects: frozenset[str]
    event_ids: frozenset[str]
    rederivable: bool

    @property
    def customers(self) -> set[str]:
        return customers_of(self.subjects)


def component(ctx: Context, seeds: Collection[str]) -> Component:
    """The component of the events connected to ``seeds`` by shared subjects."""
    column = schema.event_subjects.c
    subjects, events = set(seeds), set[str]()
    reached = set(seeds)
    while reached:
        found = set(
            ctx.uow.connection.execute(
                select(column.event_id).where(column.subject.in_(sorted(reached)))
            ).scalars()
        )
        new_events = found - events
        events |= new_events
        if not new_events:
            break
        named = set(
            ctx.uow.connection.execute(
                select(column.subject).where(column.event_id.in_(sorted(new_events)))
            ).scalars()
        )
        reached = named - subjects
        subjects |= reached
    frontier = schema.subject_frontiers.c
    legacy = ctx.uow.connection.execute(
        select(func.count())
        .select_from(schema.subject_frontiers)
        .where(frontier.subject.in_(sorted(subjects)), frontier.rederivable.is_(False))
    ).scalar_one()
    return Component(frozenset(subjects), frozenset(events), rederivable=legacy == 0)
