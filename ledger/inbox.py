"""The inbox: every inbound event ever applied, by its CloudEvent ``id``.

``id`` is the idempotency key (SPEC §2): an event is claimed once, and a redelivery
changes nothing. The inbox keeps each event's payload and the hash of its body, so
that a second event under the same id but with another body, an upstream fault that
would otherwise lose money in silence, is told apart from a redelivery and reported;
and so that events waiting for their order (parked) can be applied when it arrives.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import bindparam, select, update

from ledger.context import Context
from ledger.outcomes import Applied, Outcome
from ledger.store import schema
from messages.adjustments import BookedEvent
from messages.inbound import (
    ActivationCompletedEvent,
    ActivationFailedEvent,
    InboundEvent,
    parse_inbound,
)

__all__ = [
    "Claim",
    "body_digest",
    "business_time",
    "claim",
    "close",
    "parked_among",
    "parked_events",
]


def body_digest(event: BookedEvent) -> str:
    """SHA-256 of what an event says: its type and data, as canonical JSON.

    The envelope's ``time`` and ``source`` are left out: a publisher re-sending the same
    fact may stamp it anew. Order numbers are compared in their canonical form, so
    ``mi0001`` and ``MI0001`` say the same thing, and so are instants and amounts.
    """
    said = {"type": event.type, "data": _canonical(event.data.model_dump())}
    canonical = json.dumps(said, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> Any:
    """One spelling per value: an instant in UTC (10:00+01:00 is 09:00Z), an amount to
    the cent."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def business_time(event: BookedEvent) -> datetime:
    """When the event says its fact happened (``paid_at``, ``activated_at``, …)."""
    data: Any = event.data
    for name in ("paid_at", "activated_at", "failed_at", "requested_at"):
        if hasattr(data, name):
            instant: datetime = getattr(data, name)
            return instant
    return event.time


_UNKNOWN = "unknown (recorded before bodies were hashed)"


@dataclass(frozen=True, slots=True)
class Claim:
    """The inbox's answer to an event: new, a redelivery, or an id reused for another
    body (``conflicting_digest`` is then the body first recorded under that id)."""

    claimed: bool
    digest: str
    conflicting_digest: str | None = None


def claim(ctx: Context, event: BookedEvent) -> Claim:
    """Record ``event`` as seen, once by its id; what was already there otherwise."""
    digest = body_digest(event)
    inserted = ctx.uow.insert_ignoring_conflicts(
        schema.inbox,
        {
            "event_id": event.id,
            "event_type": event.type,
            "status": Outcome.APPLIED.value,
            "body_sha256": digest,
            "payload": event.model_dump(mode="json"),
            "business_time": business_time(event),
            "position": business_time(event),
            "received_at": ctx.recorded_at,
        },
    )
    if inserted:
        return Claim(claimed=True, digest=digest)
    column = schema.inbox.c
    earlier = ctx.uow.connection.execute(
        select(column.body_sha256, column.event_type, column.business_time).where(
            column.event_id == event.id
        )
    ).one()
    if earlier.body_sha256 is None:
        # Recorded before bodies were hashed: what is known of it must still match.
        same = earlier.event_type == event.type and earlier.business_time == business_time(event)
        return Claim(claimed=False, digest=digest, conflicting_digest=None if same else _UNKNOWN)
    conflicting = earlier.body_sha256 if earlier.body_sha256 != digest else None
    return Claim(claimed=False, digest=digest, conflicting_digest=conflicting)


def close(ctx: Context, event: BookedEvent, applied: Applied, *, stored: Outcome) -> None:
    """Record what became of a claimed event whose inbox row says ``stored``; a parked
    one is filed under its order. An event claimed and applied (nearly every one) is
    already recorded as such by ``claim``, a parked one parked again by its parking:
    nothing to write."""
    if applied.outcome is stored and applied.detail is None:
        return
    values: dict[str, Any] = {"status": applied.outcome.value, "detail": applied.detail}
    if applied.outcome is Outcome.PARKED:
        assert isinstance(event, ActivationCompletedEvent | ActivationFailedEvent)
        values["order_id"] = event.data.order_id
    ctx.uow.connection.execute(
        update(schema.inbox).where(schema.inbox.c.event_id == event.id).values(values)
    )


_PARKED: Final = (
    select(schema.inbox.c.payload)
    .where(
        schema.inbox.c.status == Outcome.PARKED.value,
        schema.inbox.c.order_id == bindparam("order_id"),
    )
    .order_by(schema.inbox.c.business_time, schema.inbox.c.event_id)
)
"""Every paid order asks for its parked events: built once."""


def parked_events(ctx: Context, order_id: str) -> list[InboundEvent]:
    """The events waiting for ``order_id`` to be paid, in business-time order."""
    payloads = ctx.uow.connection.execute(_PARKED, {"order_id": order_id}).scalars().all()
    return [parse_inbound(payload, currency=ctx.policy.currency) for payload in payloads]


def parked_among(ctx: Context, event_ids: Iterable[str]) -> set[str]:
    """Which of ``event_ids`` are parked, waiting for their order to be paid."""
    column = schema.inbox.c
    return set(
        ctx.uow.connection.execute(
            select(column.event_id).where(
                column.event_id.in_(sorted(event_ids)), column.status == Outcome.PARKED.value
            )
        ).scalars()
    )
