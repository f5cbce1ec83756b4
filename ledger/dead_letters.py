"""The books' side of dead letters: what ops decided about them, and which are resolved.

The dead letters themselves live in the broker (``workers.rabbitmq``); this module
sees them as plain `DeadLetterRef` values and never imports a broker library.

**Resolved.** A dead letter is resolved when its event is in the books after all:

* an invalid event (it has a ``rejected_events`` row) is resolved once an event with
  the same CloudEvents ``id`` was recorded in the inbox *after* the body was refused:
  the publisher sent a correction, and it was applied (or parked, or refused by a
  rule: either way judged). An event with that id recorded *before* the refusal does
  not resolve it: that is a different body reusing an id already taken, which ops
  must look at;
* any other inbound dead letter (a valid event that ran out of retries) is resolved
  once its id is in the inbox at all: a replay would be a duplicate.

residuo keys events by ``id`` alone (SPEC §2: ``id`` is the idempotency key), so the
``source`` does not enter into it: an event with the same id from another source
would be a duplicate too. A dead letter without an event id, or a sweep message, is
never resolved by the books; ops drop, archive or replay it.

**Counted from the books.** ``residuo status`` and every scrape of ``residuo metrics``
count resolved dead letters without reading a ``.XQ`` (a read holds the letters from
other readers and, on a quorum queue, spends a delivery attempt of each):
`inbound_dead_letters_on_record` counts the inbound dead letters the books know of
(every body the worker dead-lettered has a ``rejected_events`` row) that no
disposition has taken out of the queue since, and how many of them are resolved.
The books cannot see a dead letter removed behind residuo's back (a purge, the
management UI): the caller compares ``outstanding`` with what the queue holds.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import Connection, Table, case, exists, func, literal, select

from ledger.store import schema
from ledger.store.uow import UnitOfWork
from messages import limits
from messages.errors import BODY_ID_PREFIX

__all__ = [
    "NOT_DEAD_LETTERED",
    "DeadLetterRef",
    "DeadLettersOnRecord",
    "Disposition",
    "inbound_dead_letters_on_record",
    "record_disposition",
    "superseding_events",
]

Disposition = Literal["dropped", "archived", "replayed"]

NOT_DEAD_LETTERED: Final = frozenset({"id_conflict"})
"""``rejected_events`` reasons of bodies reported but never dead-lettered: an id
reused for another body is refused and told (``ledger.service``), not kept in a queue."""

_CHUNK: Final = 500


@dataclass(frozen=True, slots=True)
class DeadLetterRef:
    """What the books need to know of a dead letter.

    ``dead_letter_id`` is ``sha256:<hex>`` of an event body or a Dramatiq message id;
    ``reason`` and ``detail`` say why it was dead-lettered, ``dead_lettered_at`` when.
    """

    dead_letter_id: str
    queue: str
    event_id: str | None
    event_type: str | None
    reason: str
    detail: str | None = None
    dead_lettered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeadLettersOnRecord:
    """Inbound dead letters (``residuo.events.XQ``) as the books know them.

    ``outstanding``: bodies dead-lettered (a ``rejected_events`` row) that no
    disposition (drop, archive, replay) has taken out since; ``resolved``: how many of
    those are resolved. A dead letter the books never heard of (dead-lettered untold,
    or by hand) is in neither; one replayed and dead-lettered again counts as taken out.
    """

    outstanding: int
    resolved: int


def inbound_dead_letters_on_record(connection: Connection) -> DeadLettersOnRecord:
    """Count the inbound dead letters the books know of (see `DeadLettersOnRecord`),
    by the rule of the module, in one statement."""
    rejected, inbox = schema.rejected_events.c, schema.inbox.c
    disposed = exists().where(
        schema.dead_letter_dispositions.c.dead_letter_id
        == literal(BODY_ID_PREFIX) + rejected.body_sha256
    )
    # As `superseding_events`: the event recorded at or after the body was refused.
    superseded = exists().where(
        inbox.event_id == rejected.event_id, inbox.received_at >= rejected.received_at
    )
    outstanding, resolved = connection.execute(
        select(func.count(), func.count(case((superseded, 1)))).where(
            rejected.reason.not_in(sorted(NOT_DEAD_LETTERED)), ~disposed
        )
    ).one()
    return DeadLettersOnRecord(outstanding=outstanding, resolved=resolved)


def record_disposition(
    uow: UnitOfWork,
    letter: DeadLetterRef,
    *,
    action: Disposition,
    operator: str,
    reason: str | None,
    decided_at: datetime,
    body: bytes | None = None,
) -> None:
    """Keep, for audit, that ``operator`` ``action``-ed ``letter`` at ``decided_at``.

    ``body`` is kept only for an archive (the table's check refuses it otherwise);
    a drop or an archive must give a ``reason`` (kept as ``operator_reason``; the
    table's ``reason`` is why the letter was dead-lettered, cut to a code's length).
    """
    uow.connection.execute(
        schema.dead_letter_dispositions.insert(),
        {
            "dead_letter_id": letter.dead_letter_id,
            "queue": letter.queue,
            "action": action,
            "event_id": letter.event_id,
            "event_type": letter.event_type,
            "reason": letter.reason[: limits.CODE_MAX_LENGTH],
            "detail": letter.detail,
            "dead_lettered_at": letter.dead_lettered_at,
            "operator": operator[: limits.OPERATOR_MAX_LENGTH],
            "operator_reason": reason,
            "decided_at": decided_at,
            "body": body if action == "archived" else None,
        },
    )


def superseding_events(connection: Connection, letters: Sequence[DeadLetterRef]) -> dict[str, str]:
    """The resolved among ``letters``: dead-letter id → the event id that resolved it
    (see the module for the rule)."""
    inbound = [
        each
        for each in letters
        if each.event_id is not None and each.dead_letter_id.startswith(BODY_ID_PREFIX)
    ]
    recorded = _received_at(
        connection, schema.inbox, "event_id", {each.event_id for each in inbound if each.event_id}
    )
    refused = _received_at(
        connection,
        schema.rejected_events,
        "body_sha256",
        {each.dead_letter_id.removeprefix(BODY_ID_PREFIX) for each in inbound},
    )
    resolved = {}
    for each in inbound:
        assert each.event_id is not None
        applied_at = recorded.get(each.event_id)
        refused_at = refused.get(each.dead_letter_id.removeprefix(BODY_ID_PREFIX))
        if applied_at is not None and (refused_at is None or applied_at >= refused_at):
            resolved[each.dead_letter_id] = each.event_id
    return resolved


def _received_at(
    connection: Connection, table: Table, key: str, values: set[str]
) -> dict[str, datetime]:
    """``received_at`` of the rows of ``table`` whose ``key`` column is in ``values``."""
    column = table.c[key]
    found: dict[str, datetime] = {}
    ordered = sorted(values)
    # In chunks: a dead-letter queue may hold more ids than one statement should bind.
    for start in range(0, len(ordered), _CHUNK):
        rows = connection.execute(
            select(column, table.c.received_at).where(column.in_(ordered[start : start + _CHUNK]))
        )
        found.update({row[0]: row[1] for row in rows})
    return found
