"""Comparing what a derivation produced with what is written and told: the entries to
reverse and to book, the notifications to void and to tell anew.
"""

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from ledger import timeline
from ledger.books import Account, Entry, Line
from ledger.context import Context
from ledger.outcomes import Applied
from ledger.store import schema

__all__ = [
    "Changes",
    "Correction",
    "Written",
    "entry_changes",
    "live_entries",
    "live_notifications",
    "notification_changes",
]


@dataclass(frozen=True, slots=True)
class Correction:
    """What a correction changed: entries reversed and booked, and the types of the
    notifications voided and told anew. ``outcome`` is what became of the late event."""

    correction_id: int | None
    entries_reversed: int
    entries_booked: int
    voided: list[str]
    told: list[str]
    outcome: Applied

    @property
    def changed_anything(self) -> bool:
        return bool(self.entries_reversed or self.entries_booked or self.voided or self.told)

    def summary(self) -> dict[str, Any]:
        """The JSON kept with the correction."""
        return {
            "entries_reversed": self.entries_reversed,
            "entries_booked": self.entries_booked,
            "voided": self.voided,
            "told": self.told,
        }


EntryKey = tuple[Any, ...]


def _entry_key(entry: Entry) -> EntryKey:
    lines = tuple(
        sorted(
            (line.account.value, line.credit_id or "", line.amount_cents) for line in entry.lines
        )
    )
    return (
        entry.kind,
        entry.customer_id,
        entry.cause,
        entry.order_id,
        entry.credit_id,
        entry.effective_at.astimezone(UTC),
        entry.memo,
        lines,
    )


@dataclass(frozen=True, slots=True)
class Written:
    entry_id: int
    entry: Entry


def live_entries(ctx: Context, customers: frozenset[str]) -> list[Written]:
    """The component's entries that stand: neither reversals nor reversed."""
    entry, posting = schema.journal_entries.c, schema.postings.c
    reversal = aliased(schema.journal_entries)
    rows = ctx.uow.connection.execute(
        select(schema.journal_entries)
        .where(
            entry.customer_id.in_(sorted(customers)),
            entry.reverses_entry_id.is_(None),
            ~exists().where(reversal.c.reverses_entry_id == entry.entry_id),
        )
        .order_by(entry.entry_id)
    ).all()
    lines: dict[int, list[Line]] = {}
    ids = [row.entry_id for row in rows]
    for line in ctx.uow.connection.execute(
        select(posting.entry_id, posting.account, posting.credit_id, posting.amount_cents)
        .where(posting.entry_id.in_(ids))
        .order_by(posting.posting_id)
    ):
        lines.setdefault(line.entry_id, []).append(
            Line(Account(line.account), line.amount_cents, line.credit_id)
        )
    return [
        Written(
            row.entry_id,
            Entry(
                row.kind,
                row.customer_id,
                row.cause,
                row.effective_at,
                row.memo,
                lines.get(row.entry_id, []),
                row.order_id,
                row.credit_id,
            ),
        )
        for row in rows
    ]


def entry_changes(
    written: Sequence[Written], derived: Sequence[Entry]
) -> tuple[list[Written], list[Entry]]:
    """What to reverse and what to book so that the standing entries are the derived
    ones, each the same number of times."""
    wanted = Counter(_entry_key(entry) for entry in derived)
    to_reverse = []
    for each in written:
        key = _entry_key(each.entry)
        if wanted[key] > 0:
            wanted[key] -= 1
        else:
            to_reverse.append(each)
    standing = Counter(_entry_key(each.entry) for each in written)
    to_book = []
    for entry in derived:
        key = _entry_key(entry)
        if standing[key] > 0:
            standing[key] -= 1
        else:
            to_book.append(entry)
    return to_reverse, to_book


def live_notifications(ctx: Context, component: timeline.Component) -> list[dict[str, Any]]:
    """What the rules told about the component and still stands (not voided)."""
    column = schema.outbox.c
    rows = ctx.uow.connection.execute(
        select(column.notification_id, column.rule_key, column.type, column.payload)
        .where(
            column.derived.is_(True),
            column.voided_by.is_(None),
            column.event_id.in_(sorted(component.event_ids))
            | column.customer_id.in_(sorted(component.customers)),
        )
        .order_by(column.position)
    ).all()
    return [dict(row._mapping) for row in rows]


def _said(payload: str) -> tuple[Any, ...]:
    """What a notification says, its id aside."""
    envelope = json.loads(payload)
    return (envelope["type"], envelope["time"], json.dumps(envelope["data"], sort_keys=True))


def notification_changes(
    told: Sequence[Mapping[str, Any]], derived: Sequence[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The standing notifications no longer said (or said otherwise), and the derived
    ones not yet said; matched by the id their cause gives them (``rule_key``), whatever
    id they were told under."""
    wanted: dict[str, Mapping[str, Any]] = {}
    for row in derived:
        wanted.setdefault(row["rule_key"], row)
    standing = {row["rule_key"]: row for row in told}
    to_void = [
        row
        for identifier, row in standing.items()
        if identifier not in wanted or _said(wanted[identifier]["payload"]) != _said(row["payload"])
    ]
    to_tell = [
        row
        for identifier, row in wanted.items()
        if identifier not in standing
        or _said(standing[identifier]["payload"]) != _said(row["payload"])
    ]
    return to_void, to_tell


@dataclass(frozen=True, slots=True)
class Changes:
    """What makes the written books the derived ones."""

    writes: list[Written | Entry]
    """In the order written: a ``Written`` entry is reversed, an ``Entry`` booked."""
    to_void: list[Mapping[str, Any]]
    to_tell: list[Mapping[str, Any]]

    @property
    def entries_reversed(self) -> int:
        return sum(isinstance(each, Written) for each in self.writes)

    @property
    def entries_booked(self) -> int:
        return len(self.writes) - self.entries_reversed
