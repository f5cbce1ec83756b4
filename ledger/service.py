"""The ledger's entry points: one call, one transaction.

Workers and the CLI call these and nothing deeper. Each opens a ``UnitOfWork``,
claims the event in the inbox (a duplicate changes nothing), applies the rule,
writes the outbox, and commits; any exception rolls every write back.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import Engine

from ledger import corrections, dispatch, inbox, timeline
from ledger.context import Context
from ledger.dead_letters import (
    DeadLetterRef,
    DeadLettersOnRecord,
    Disposition,
    inbound_dead_letters_on_record,
    record_disposition,
    superseding_events,
)
from ledger.errors import AdjustmentRefusedError, UnknownSweepError
from ledger.money import cents_to_decimal
from ledger.outcomes import Applied, Outcome
from ledger.policy import Policy
from ledger.store import schema
from ledger.store.uow import UnitOfWork
from ledger.sweep_runs import (
    DEFAULT_CHUNK_SIZE,
    ChunkSettled,
    claimed_as_of,
    settle_chunk,
    start_run,
)
from ledger.sweeps import SWEEPS, SweepKind, SweepTally, Window, settle_window
from ledger.timeline import Timeliness
from messages.adjustments import Adjustment, BookedEvent
from messages.errors import BODY_ID_PREFIX, body_id
from messages.notifications import SweepCompleted

__all__ = ["EventRecorded", "Ledger", "Recorded", "Recording"]

Clock = Callable[[], datetime]

InTurn = Callable[[set[str]], bool]
"""Called by ``Ledger.record`` with an event's subjects before its transaction begins;
blocks until the event's turn and returns whether it waited (``workers.delivery_order``)."""


class Recorded(StrEnum):
    """What ``Ledger.record`` did with an event."""

    APPLIED = "applied"
    PARKED = "parked"
    REFUSED = "refused"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class EventRecorded:
    """What became of one event; ``reason`` and ``detail`` say why it was refused.

    A credit request the rules turned down (``missing_documents``, ``not_refundable``,
    …) is ``REFUSED`` with the request's reason, although its inbox row says applied:
    the request was handled, and the customer told (``request.rejected``).
    """

    event_id: str
    event_type: str
    outcome: Recorded
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Recording:
    """What one ``Ledger.record`` call did: the event itself, then each parked event
    its payment let apply, in the order they were applied (all in one transaction).
    An event that came late re-derives its component: what became of the others there
    is told by the corrections' notifications, not here."""

    event: EventRecorded
    unparked: tuple[EventRecorded, ...] = ()

    @property
    def outcome(self) -> Recorded:
        return self.event.outcome


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """The books and the rules behind one database."""

    def __init__(
        self,
        engine: Engine,
        policy: Policy,
        *,
        clock: Clock = _utc_now,
        sweep_chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if sweep_chunk_size < 1:
            raise ValueError("a sweep chunk holds at least one row")
        self.engine = engine
        self.policy = policy
        self.sweep_chunk_size = sweep_chunk_size
        self._clock = clock

    def _context(self, uow: UnitOfWork) -> Context:
        return Context(uow=uow, policy=self.policy, recorded_at=self._clock())

    def record(self, event: BookedEvent, *, in_turn: InTurn | None = None) -> Recording:
        """Apply one valid inbound event, exactly once by its ``id``; what became of it
        and of the parked events it let apply, known once committed.

        A second event under an id already used, with another body, is not applied
        (the id is the idempotency key) but reported to ops, with both bodies' hashes
        (``event.rejected``, ``id_conflict``): ``Recorded.CONFLICT``.

        ``in_turn`` is called with the event's subjects before its transaction begins
        (read on their own, in autocommit): a wait there holds no connection, no
        transaction and no lock, and the books' recorded time is read after it. When
        it returns True (it waited for other events), the subjects are read again and
        it is called again with them. A worker orders its threads' events there
        (``workers.delivery_order``); only on PostgreSQL, where its threads' write
        transactions run side by side (SQLite's hold the database from their start).
        """
        for _ in range(_OVERTAKES_TOLERATED):
            try:
                return self._record_once(event, in_turn=in_turn)
            except _OvertakenError:
                continue
        return self._record_once(event, in_turn=in_turn)

    def adjust(self, adjustment: Adjustment) -> Recording:
        """Book an operator's adjustment (``ledger.adjustments``) at its business time,
        like an event: derived again with its customer's books whenever they are.

        Raises ``AdjustmentRefusedError``, keeping nothing, when the adjustment would
        take from a credit more than it holds or names a credit the customer lacks.
        """
        for _ in range(_OVERTAKES_TOLERATED):
            try:
                return self._record_once(adjustment, refusal_keeps_nothing=True)
            except _OvertakenError:
                continue
        return self._record_once(adjustment, refusal_keeps_nothing=True)

    def watermark(self) -> datetime | None:
        """The latest business time the books have seen (``ledger.timeline``): when an
        adjustment given no time of its own is booked."""
        with UnitOfWork(self.engine) as uow:
            return timeline.watermark(self._context(uow))

    def _record_once(
        self,
        event: BookedEvent,
        *,
        refusal_keeps_nothing: bool = False,
        in_turn: InTurn | None = None,
    ) -> Recording:
        # Before the unit of work: a thread waiting for its turn holds no connection
        # (the event it waits for may need the pool's last), no transaction (a session
        # idle in one may be cut off), no inbox row (the same event, delivered twice),
        # and its entries' recorded time is read once its turn has come.
        named = None if in_turn is None else _subjects_in_turn(self.engine, event, in_turn)
        with UnitOfWork(self.engine) as uow:
            ctx = self._context(uow)
            subjects = timeline.subjects_of(uow.connection, event) if named is None else named
            seen = inbox.claim(ctx, event)
            if seen.conflicting_digest is not None:
                _report_id_conflict(ctx, event, seen.digest, seen.conflicting_digest)
                uow.commit()
                return Recording(
                    EventRecorded(event.id, event.type, Recorded.CONFLICT, "id_conflict")
                )
            if not seen.claimed:
                return Recording(EventRecorded(event.id, event.type, Recorded.DUPLICATE))
            uow.lock(*subjects)
            locked = timeline.file_and_judge(ctx, event, subjects, inbox.business_time(event))
            if locked.subjects != subjects:
                raise _SubjectsChangedError(event.id)
            done = _apply_in_time(ctx, event, subjects, locked.verdict)
            recording = Recording(
                _recorded(event, done.applied),
                tuple(_recorded(parked, applied) for parked, applied in done.unparked),
            )
            if refusal_keeps_nothing and recording.outcome is Recorded.REFUSED:
                raise AdjustmentRefusedError(done.applied.detail or "refused")
            uow.commit()
            return recording

    def reject(
        self,
        body: bytes,
        *,
        reason: str,
        detail: str,
        event_id: str | None,
        event_type: str | None,
        dead_letter_id: str | None = None,
    ) -> bool:
        """Report an event that can never be valid (``event.rejected``), once per body.

        Keyed by the body's hash, not the event id: a corrected event re-sent under
        the same id must still be applied. `body` is the dead letter's body, kept byte
        for byte (NUL and bytes that are not UTF-8 included), so the report's
        `dead_letter_id` is the id ``residuo dead-letters`` shows; a caller that keeps
        only part of a large body passes the whole body's id as `dead_letter_id`.
        """
        with UnitOfWork(self.engine) as uow:
            ctx = self._context(uow)
            dead_letter_id = dead_letter_id or body_id(body)
            digest = dead_letter_id.removeprefix(BODY_ID_PREFIX)
            claimed = uow.insert_ignoring_conflicts(
                schema.rejected_events,
                {
                    "body_sha256": digest,
                    "event_id": event_id,
                    "event_type": event_type,
                    "reason": reason,
                    "detail": detail,
                    "body": body,
                    "received_at": ctx.recorded_at,
                },
            )
            if claimed:
                dispatch.report_event(
                    ctx,
                    event_id or dead_letter_id,
                    event_type or "unknown",
                    reason,
                    detail,
                    cause=f"rejected|{digest}",
                    time=ctx.recorded_at,
                    dead_letter_id=dead_letter_id,
                )
            uow.commit()
            return bool(claimed)

    def resolved_dead_letters(self, letters: Sequence[DeadLetterRef]) -> dict[str, str]:
        """The dead letters among ``letters`` whose event is in the books after all:
        dead-letter id → the event id that resolved it (``ledger.dead_letters``)."""
        with self.engine.connect() as connection:
            return superseding_events(connection, letters)

    def inbound_dead_letters_on_record(self) -> DeadLettersOnRecord:
        """The inbound dead letters the books know of, and how many are resolved,
        without reading the broker (``ledger.dead_letters``)."""
        with self.engine.connect() as connection:
            return inbound_dead_letters_on_record(connection)

    def record_dead_letter_disposition(
        self,
        letter: DeadLetterRef,
        *,
        action: Disposition,
        operator: str,
        reason: str | None,
        body: bytes | None = None,
    ) -> None:
        """Keep for audit that ``operator`` dropped, archived or replayed ``letter``,
        and why; committed before the caller removes the dead letter."""
        with UnitOfWork(self.engine) as uow:
            record_disposition(
                uow,
                letter,
                action=action,
                operator=operator,
                reason=reason,
                decided_at=self._clock(),
                body=body,
            )
            uow.commit()

    def sweep(self, kind: str, as_of: datetime) -> dict[str, SweepTally]:
        """Run sweep ``kind`` (or ``all``, in dependency order) at business time ``as_of``,
        here and now: by hand, or a replay's sweep line.

        Each window of ``sweep_chunk_size`` due rows commits on its own, so memory stays
        flat; a sweep that dies halfway is simply run again (what it settled no longer
        matches). Each kind ends with its ``sweep.completed``, once per ``as_of``.
        """
        kinds = [each for each in SWEEPS if kind in {each, "all"}]
        if not kinds:
            raise UnknownSweepError(f"unknown sweep {kind!r}; known: all, {', '.join(SWEEPS)}")
        tallies: dict[str, SweepTally] = {}
        for each in kinds:
            tally = SweepTally()
            logged = False
            for sweep_pass in SWEEPS[each]:
                after: str | None = None
                while True:
                    window = Window(after=after, limit=self.sweep_chunk_size)
                    with UnitOfWork(self.engine) as uow:
                        ctx = self._context(uow)
                        if not logged:
                            # With the first window: a late event derived again meanwhile
                            # settles as far as this sweep, never undoing a window of it.
                            timeline.log_sweep(ctx, each, as_of)
                        after = settle_window(ctx, sweep_pass, as_of, window, tally)
                        timeline.advance(ctx, {})
                        uow.commit()
                    logged = True
                    if after is None:
                        break
            with UnitOfWork(self.engine) as uow:
                ctx = self._context(uow)
                ctx.notify(
                    SweepCompleted(
                        kind=each,
                        as_of=ctx.local(as_of),
                        counts=dict(tally.counts),
                        amounts={k: cents_to_decimal(v) for k, v in tally.cents.items()},
                    ),
                    # One per instant, however `as_of` was spelled (UTC or an offset).
                    cause=f"sweep|{each}|{as_of.astimezone(UTC).isoformat()}",
                    time=as_of,
                    derived=False,
                )
                uow.commit()
            tallies[each] = tally
        return tallies

    def claimed_run_as_of(self, kind: str, business_date: date) -> datetime | None:
        """The ``as_of`` the scheduler claimed the run of ``kind`` on ``business_date``
        with; None while nobody has. See ``ledger.sweep_runs.claimed_as_of``."""
        with self.engine.connect() as connection:
            return claimed_as_of(connection, kind, business_date)

    def start_sweep_run(self, kind: str, business_date: date, as_of: datetime) -> list[int]:
        """Start the scheduled run of ``kind`` for ``business_date``; the chunks to send
        (none when it already completed). See ``ledger.sweep_runs``."""
        with UnitOfWork(self.engine) as uow:
            ctx = self._context(uow)
            timeline.log_sweep(ctx, kind, as_of)
            pending = start_run(
                ctx, _sweep_kind(kind), business_date, as_of, chunk_size=self.sweep_chunk_size
            )
            uow.commit()
            return pending

    def settle_sweep_chunk(self, kind: str, business_date: date, chunk_no: int) -> ChunkSettled:
        """Settle one chunk of a scheduled run, once, in one transaction."""
        with UnitOfWork(self.engine) as uow:
            ctx = self._context(uow)
            settled = settle_chunk(ctx, _sweep_kind(kind), business_date, chunk_no)
            timeline.advance(ctx, {})
            uow.commit()
            return settled


def _sweep_kind(kind: str) -> SweepKind:
    for each in SWEEPS:
        if each == kind:
            return each
    raise UnknownSweepError(f"unknown sweep {kind!r}; known: {', '.join(SWEEPS)}")


_OVERTAKES_TOLERATED = 3
"""Attempts an event may lose to sweeps committing past it before the last one (a
second attempt finds the event late, and late events are not overtaken)."""


class _OvertakenError(Exception):
    """An event judged in order found, once applied, books written past it meanwhile."""


class _SubjectsChangedError(_OvertakenError):
    """An event found, once its orders were locked, an owner it had not read: it starts
    again (like an overtaken event, a few times at most).

    Read before the lock, an order may have had no owner yet while the payment or the
    request that makes one was committing: it held the order's lock this event just
    waited for. Judged without its owner the event would miss the customer's books
    written past it (an activation: a request that found no credit), or change them
    without the customer's lock and without being filed under the customer (a top-up
    for another customer's order releases the owner's lapsed holds). An event naming a
    customer of its own (its payer) is no exception. The attempt starts again, reading
    the owner before it locks anything: taking the owner's lock now, after the order's,
    could deadlock with a transaction that locked them in key order."""


def _subjects_in_turn(engine: Engine, event: BookedEvent, in_turn: InTurn) -> set[str]:
    """The event's subjects, once ``in_turn`` let it go ahead with them (see
    ``Ledger.record``): an event it waited for may have paid one of the orders this
    one names, making that order's owner a subject too.

    Read as the unit of work would read them before its locks (committed rows, nothing
    locked), each time on a connection of its own, in autocommit, given back before
    the wait."""
    subjects = _read_subjects(engine, event)
    while in_turn(subjects):
        again = _read_subjects(engine, event)
        if again == subjects:
            break
        subjects = again
    return subjects


def _read_subjects(engine: Engine, event: BookedEvent) -> set[str]:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return timeline.subjects_of(connection, event)


def _apply_in_time(
    ctx: Context, event: BookedEvent, subjects: set[str], verdict: timeline.Verdict
) -> dispatch.Dispatched:
    """Apply a claimed event as its timeliness says (``ledger.timeline``): where nothing
    has been written past its position, as it comes; otherwise by deriving its
    component again. An event older than the settled horizon is placed there, and ops
    are told what it would have changed in time."""
    too_late = verdict.timeliness is Timeliness.TOO_LATE
    if too_late:
        timeline.set_position(ctx, event.id, verdict.position)
    if verdict.frontier is None or verdict.position > verdict.frontier:
        done = _apply_as_it_comes(ctx, timeline.placed(event, verdict.position), subjects, verdict)
    elif verdict.rederivable and (found := corrections.rederive(ctx, event, subjects)):
        done = dispatch.Dispatched(found.outcome)
    else:
        # History from before payloads were kept cannot be derived again: judged
        # against the books as they stand, after everything already written.
        timeline.set_position(ctx, event.id, verdict.frontier)
        too_late = True
        done = dispatch.apply_event(ctx, timeline.placed(event, verdict.frontier))
        timeline.advance(ctx, dict.fromkeys(subjects, verdict.frontier))
    if too_late:
        in_time = corrections.would_change(ctx, event, subjects) if verdict.rederivable else None
        corrections.report_too_late(ctx, event, verdict, in_time)
    return done


def _apply_as_it_comes(
    ctx: Context, event: BookedEvent, subjects: set[str], verdict: timeline.Verdict
) -> dispatch.Dispatched:
    done = dispatch.apply_event(ctx, event)
    # A parked event has done nothing yet: it is applied, in its turn, with its order.
    parked = done.applied.outcome is Outcome.PARKED
    before = timeline.advance(
        ctx, {} if parked else dict.fromkeys(subjects, verdict.position), watched=subjects
    )
    if before is not None and verdict.position < before:
        # A sweep (which takes no subject locks) committed books past this event
        # while it was being applied: start again, knowing it is late.
        raise _OvertakenError(event.id)
    return done


def _recorded(event: BookedEvent, applied: Applied) -> EventRecorded:
    """``applied`` as the caller reads it: a credit request turned down is refused,
    with the request's reason."""
    if applied.declined is not None:
        return EventRecorded(event.id, event.type, Recorded.REFUSED, applied.declined)
    outcome = Recorded(applied.outcome.value)
    return EventRecorded(event.id, event.type, outcome, applied.reason, applied.detail)


def _report_id_conflict(ctx: Context, event: BookedEvent, digest: str, earlier: str) -> None:
    """An id reused for another body: kept (by the body's hash) and told to ops, once."""
    detail = (
        f"event id {event.id} was first used for a body with sha256 {earlier}; this "
        f"{event.type} (sha256 {digest}) is not applied: re-send it under an id of its own"
    )
    claimed = ctx.uow.insert_ignoring_conflicts(
        schema.rejected_events,
        {
            "body_sha256": digest,
            "event_id": event.id,
            "event_type": event.type,
            "reason": "id_conflict",
            "detail": detail,
            "body": event.model_dump_json().encode(),
            "received_at": ctx.recorded_at,
        },
    )
    if claimed:
        dispatch.report_event(
            ctx,
            event.id,
            event.type,
            "id_conflict",
            detail,
            cause=f"id_conflict|{digest}",
            time=inbox.business_time(event),
        )
