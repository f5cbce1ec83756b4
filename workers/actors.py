"""The actors: one per inbound event type, one per sweep kind, bound to one ledger.

Actors are declared against the broker the bootstrap built (``declare_actors``),
never through ``@dramatiq.actor`` at import time, which would bind them to a
global broker. Each is thin: read the message into a model, call one ledger
function, hand what it did to ``on_recorded`` (the log lines of
``workers.event_log``, the metrics). Invalid events never reach them
(``RejectInvalidEvents``).

A sweep message without a business date runs the sweep at its ``as_of`` in the
worker (a replay's sweep line). Given a clock (``declare_actors``; the bootstrap
gives one on RabbitMQ), such a message whose ``as_of`` is still to come is refused
and dead-lettered, as ``residuo sweep --as-of`` refuses it: run early, an expiry
sweep forfeits credit the customer may still use (R2). A replay gives none: its
sweep lines are its own timeline. With one, it is the scheduler's run of that date: the
worker starts the run and fans its chunks out as ``sweep_chunk`` messages on the same
queue, so every worker shares a large sweep (``ledger.sweep_runs``). Only a run the
scheduler claimed is started, and only with the ``as_of`` it was claimed with: a run
message for a date nobody claimed (its run time has not come, or it was published by
hand) or carrying another ``as_of`` is refused and dead-lettered, never run early or
at the wrong instant.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import structlog
from dramatiq import Actor, Broker, Message

from ledger.errors import UnknownSweepError
from ledger.service import Clock, Ledger, Recording
from ledger.sweeps import SWEEPS
from messages import INBOUND_TYPES, parse_inbound
from workers.delivery_order import DeliveryOrder
from workers.errors import InvalidSweepError
from workers.event_log import log_recording
from workers.middleware import INBOUND_EVENT_OPTION, RejectInvalidEvents

__all__ = [
    "EVENTS_QUEUE",
    "SWEEPS_QUEUE",
    "Actors",
    "ChunkActor",
    "InboundActor",
    "OnRecorded",
    "SweepActor",
    "declare_actors",
    "parse_as_of",
]

EVENTS_QUEUE: Final = "residuo.events"
"""Every inbound event, whatever its type: one queue keeps their arrival order."""

SWEEPS_QUEUE: Final = "residuo.sweeps"

_UNROUTABLE_ACTOR: Final = "unroutable_event"

# One hour: a sweep over years of books may outlast Dramatiq's ten-minute default,
# and a sweep cut short would only be retried and cut short again.
_SWEEP_TIME_LIMIT_MS: Final = 3_600_000

InboundBody = Mapping[str, Any] | str
OnRecorded = Callable[[Recording], None]
InboundActor = Actor[[InboundBody], None]
SweepActor = Actor[[str, str | None], None]
ChunkActor = Actor[[str, str, int], None]

_CHUNK_ACTOR: Final = "sweep_chunk"

_logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Actors:
    """The declared actors, found by what they handle."""

    by_event_type: Mapping[str, InboundActor]
    unroutable: InboundActor
    by_sweep_kind: Mapping[str, SweepActor]
    sweep_chunk: ChunkActor

    def sweep_messages(self, kind: str, as_of: datetime) -> list[Message[None]]:
        """Messages running sweep ``kind`` at ``as_of``; ``all`` is every kind, in the
        ledger's dependency order (send them one after the other to keep it)."""
        if kind != "all" and kind not in self.by_sweep_kind:
            known = ", ".join(["all", *self.by_sweep_kind])
            raise InvalidSweepError(f"unknown sweep {kind!r}; known: {known}")
        kinds = list(self.by_sweep_kind) if kind == "all" else [kind]
        iso = _require_offset(as_of, as_of.isoformat()).isoformat()
        return [self.by_sweep_kind[each].message(iso, None) for each in kinds]

    def run_message(self, kind: str, business_date: date, as_of: datetime) -> Message[None]:
        """The scheduler's message for the run of ``kind`` on ``business_date``."""
        if kind not in self.by_sweep_kind:
            raise InvalidSweepError(
                f"unknown sweep {kind!r}; known: {', '.join(self.by_sweep_kind)}"
            )
        iso = _require_offset(as_of, as_of.isoformat()).isoformat()
        return self.by_sweep_kind[kind].message(iso, business_date.isoformat())


def declare_actors(
    broker: Broker,
    ledger: Ledger,
    *,
    on_recorded: OnRecorded = log_recording,
    clock: Clock | None = None,
    delivery_order: DeliveryOrder | None = None,
) -> Actors:
    """Declare every actor on ``broker``, each closing over ``ledger``; the inbound
    actors call ``on_recorded`` with what became of each event, once committed. With
    a ``clock``, a sweep without a business date refuses an ``as_of`` later than it
    (see the module). With a ``delivery_order``, the inbound actors apply events
    about the same subject in the order the worker's threads took them
    (``workers.delivery_order``).

    The broker must carry ``RejectInvalidEvents``: without it an invalid event would
    be retried until it ran out of retries, and ops would never hear of it.
    """
    if not any(isinstance(each, RejectInvalidEvents) for each in broker.middleware):
        raise ValueError("the broker lacks RejectInvalidEvents: invalid events would be retried")
    by_event_type: dict[str, InboundActor] = {
        event_type: _inbound_actor(
            broker, ledger, event_type.replace(".", "_"), on_recorded, delivery_order
        )
        for event_type in INBOUND_TYPES
    }
    sweep_chunk: ChunkActor = Actor(
        _sweep_chunk(ledger),
        broker=broker,
        actor_name=_CHUNK_ACTOR,
        queue_name=SWEEPS_QUEUE,
        priority=0,
        options={"throws": (InvalidSweepError,)},
    )
    by_sweep_kind: dict[str, SweepActor] = {
        kind: Actor(
            _sweep(ledger, kind, sweep_chunk, clock),
            broker=broker,
            actor_name=f"sweep_{kind}",
            queue_name=SWEEPS_QUEUE,
            priority=0,
            options={"throws": (InvalidSweepError,), "time_limit": _SWEEP_TIME_LIMIT_MS},
        )
        for kind in SWEEPS
    }
    return Actors(
        by_event_type=by_event_type,
        unroutable=_inbound_actor(broker, ledger, _UNROUTABLE_ACTOR, on_recorded, delivery_order),
        by_sweep_kind=by_sweep_kind,
        sweep_chunk=sweep_chunk,
    )


def _inbound_actor(
    broker: Broker,
    ledger: Ledger,
    actor_name: str,
    on_recorded: OnRecorded,
    delivery_order: DeliveryOrder | None,
) -> InboundActor:
    return Actor(
        _record(ledger, on_recorded, delivery_order),
        broker=broker,
        actor_name=actor_name,
        queue_name=EVENTS_QUEUE,
        priority=0,
        options={INBOUND_EVENT_OPTION: True},
    )


def _record(
    ledger: Ledger, on_recorded: OnRecorded, delivery_order: DeliveryOrder | None
) -> Callable[[InboundBody], None]:
    def record(event: InboundBody) -> None:
        """Apply one inbound CloudEvent (already known valid) to the books."""
        if delivery_order is None:
            parsed = parse_inbound(event, currency=ledger.policy.currency)
            on_recorded(ledger.record(parsed))
            return
        with delivery_order.ticket() as turn:
            parsed = parse_inbound(event, currency=ledger.policy.currency)
            recording = ledger.record(parsed, in_turn=turn.wait)
        on_recorded(recording)

    return record


def _sweep(
    ledger: Ledger, kind: str, chunk_actor: ChunkActor, clock: Clock | None
) -> Callable[[str, str | None], None]:
    def sweep(as_of: str, business_date: str | None = None) -> None:
        """Run the sweep at business time ``as_of`` (ISO 8601 with an offset) here, or,
        given the run's ``business_date``, start that run and send its chunks."""
        instant = parse_as_of(as_of)
        if business_date is None:
            if clock is not None:
                _require_past(kind, instant, clock())
            tallies = ledger.sweep(kind, instant)
            for each, tally in tallies.items():
                _logger.info("sweep completed", kind=each, as_of=as_of, counts=dict(tally.counts))
            return
        day = _parse_business_date(business_date)
        _require_claim(ledger, kind, day, instant)
        pending = ledger.start_sweep_run(kind, day, instant)
        for chunk_no in pending:
            chunk_actor.send(kind, business_date, chunk_no)
        _logger.info(
            "sweep run started", kind=kind, business_date=business_date, chunks=len(pending)
        )

    return sweep


def _require_past(kind: str, as_of: datetime, now: datetime) -> None:
    """Refuse a sweep at an instant still to come: it would settle what has not fallen
    due (a claimed run is checked against its claim instead, ``_require_claim``)."""
    if as_of <= now:
        return
    problem = (
        f"as_of {as_of.isoformat()} is in the future (now {now.isoformat()}): a sweep "
        "settles only what has fallen due"
    )
    _logger.error("sweep refused", kind=kind, as_of=as_of.isoformat(), problem=problem)
    raise InvalidSweepError(problem)


def _require_claim(ledger: Ledger, kind: str, business_date: date, as_of: datetime) -> None:
    """Refuse a run message the scheduler did not send: the run's ``as_of`` is its
    business date at the scheduler's run time, fixed by the scheduler's claim."""
    claimed = ledger.claimed_run_as_of(kind, business_date)
    if claimed is None:
        problem = (
            f"no scheduled run of {kind} for {business_date} has been claimed: the "
            "scheduler claims a date once its run time has come; to sweep by hand, "
            "send the sweep without a business date (residuo sweep)"
        )
    elif claimed != as_of:
        problem = (
            f"the run of {kind} for {business_date} is at {claimed.isoformat()}, "
            f"not at {as_of.isoformat()}"
        )
    else:
        return
    _logger.error(
        "sweep run refused",
        kind=kind,
        business_date=str(business_date),
        as_of=as_of.isoformat(),
        claimed_as_of=claimed and claimed.isoformat(),
        problem=problem,
    )
    raise InvalidSweepError(problem)


def _sweep_chunk(ledger: Ledger) -> Callable[[str, str, int], None]:
    def sweep_chunk(kind: str, business_date: str, chunk_no: int) -> None:
        """Settle one chunk of a scheduled run (a duplicate finds it settled)."""
        day = _parse_business_date(business_date)
        try:
            settled = ledger.settle_sweep_chunk(kind, day, chunk_no)
        except UnknownSweepError as error:
            raise InvalidSweepError(str(error)) from error
        _logger.info(
            "sweep chunk settled" if settled.settled else "sweep chunk already settled",
            kind=kind,
            business_date=business_date,
            chunk_no=chunk_no,
            counts=dict(settled.tally.counts),
            run_completed=settled.run_completed,
        )

    return sweep_chunk


def _parse_business_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise InvalidSweepError(f"business date {text!r} is not an ISO 8601 date") from error


def parse_as_of(text: str) -> datetime:
    """An ISO 8601 instant with an offset; naive or malformed is ``InvalidSweepError``."""
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidSweepError(f"as_of {text!r} is not an ISO 8601 timestamp") from error
    return _require_offset(instant, text)


def _require_offset(instant: datetime, text: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidSweepError(f"as_of {text!r} has no offset: give one, e.g. +01:00")
    return instant
