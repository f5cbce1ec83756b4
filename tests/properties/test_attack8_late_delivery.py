"""attack8: the late-delivery property with a wider generator and a stronger oracle.

``test_late_delivery`` runs thirty days from 5 January under a one-month validity, so
no credit ever expires in it (the earliest expiry is 5 February, day 31). Here the
stream runs fifty days (``A8_DAYS``) and also draws: events at shared instants,
duplicate card payments, transfers onto orders already paid, ``credit_ids`` naming
credits, top-ups paid by another customer, refunds, and redeliveries. Beyond the
projections it compares the standing journal (entries neither reversed nor
reversals) and what a consumer rebuilds from the notifications (every derived
notification less those voided; no id told twice, nothing voided twice or never
told). ``A8_FEATURES`` picks a subset of the draws (default ``all``).

Passes at RESIDUO_HYPOTHESIS_EXAMPLES=500 on the code of issue 8: the defects of the
``test_attack8_*`` scenarios need interleavings it rarely draws.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from properties.test_late_delivery import (
    POLICY,
    START,
    Line,
    Sweep,
    _describe,
    _money,
    _sqlite_pair,
    _state,
    template,  # noqa: F401  (fixture)
)
from scenarios.kit import (
    Books,
    activate,
    assert_books_balance,
    assert_books_never_negative_in_business_time,
    fail,
    pay,
    refund,
    topup,
    transfer,
)
from sqlalchemy import Engine, select

from ledger.store import schema

EXAMPLES = int(os.environ.get("RESIDUO_HYPOTHESIS_EXAMPLES", "10"))
CUSTOMERS = ("1111111@aruba.it", "2222222@aruba.it", "3333333@aruba.it")
FEATURES = set(os.environ.get("A8_FEATURES", "all").split(","))

DAYS = int(os.environ.get("A8_DAYS", "50"))
SWEEPS: list[tuple[datetime, Line]] = [
    (START + timedelta(days=day), Sweep(START + timedelta(days=day))) for day in range(1, DAYS + 1)
]


def on(name: str) -> bool:
    return "all" in FEATURES or name in FEATURES


@st.composite
def _instants(draw: st.DrawFn) -> datetime:
    if on("ties") and draw(st.booleans()):
        # a few shared instants so that events tie
        minute = draw(
            st.sampled_from([600, 600 + 1440 * 3, 600 + 1440 * 9, 600 + 1440 * 15, 600 + 1440 * 36])
        )
    else:
        minute = draw(st.integers(1, DAYS * 24 * 60 - 1).filter(lambda m: m % (24 * 60) != 0))
    return START + timedelta(minutes=minute)


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[datetime, Line]]:
    lines: list[tuple[datetime, Line]] = []
    serial = iter(range(1, 10_000))
    orders: list[str] = []

    def fresh(prefix: str) -> str:
        return f"{prefix}{next(serial):04d}"

    for customer in CUSTOMERS:
        for _ in range(draw(st.integers(1, 3))):
            order, paid = fresh("MI"), draw(_instants())
            orders.append(order)
            spid = draw(st.booleans())
            amount = draw(st.sampled_from([1000, 2500, 4990]))
            service = "spid" if spid else "hosting"
            lines.append((paid, pay(order, customer, _money(amount), paid, service=service)))
            if on("dup") and draw(st.integers(0, 5)) == 0:
                again = paid + timedelta(hours=draw(st.integers(1, 48)))
                lines.append((again, pay(order, customer, _money(amount), again)))
            outcome = draw(st.sampled_from(["failed", "failed", "completed", None]))
            if outcome is not None:
                at = paid + timedelta(hours=draw(st.integers(-30, 24 * 16)))
                lines.append((at, (fail if outcome == "failed" else activate)(order, at)))
        for _ in range(draw(st.integers(0, 2))):
            request, asked = fresh("RQ"), draw(_instants())
            order = fresh("NO")
            if on("onto") and orders and draw(st.integers(0, 4)) == 0:
                order = draw(st.sampled_from(orders))
            orders.append(order)
            amount = draw(st.sampled_from([500, 2000, 6000]))
            credit_ids = None
            if on("credit_ids") and orders and draw(st.integers(0, 3)) == 0:
                credit_ids = [f"CR-{draw(st.sampled_from(orders))}"]
            lines.append(
                (
                    asked,
                    transfer(
                        request, customer, order, _money(amount), asked, credit_ids=credit_ids
                    ),
                )
            )
            for _ in range(draw(st.integers(0, 2))):
                paid = asked + timedelta(hours=draw(st.integers(-48, 24 * 8)))
                cents = draw(st.sampled_from([300, 1000, 3000]))
                method = draw(st.sampled_from(["bollettino", "bonifico"]))
                payer = customer
                if on("payer") and draw(st.integers(0, 3)) == 0:
                    payer = draw(st.sampled_from(CUSTOMERS))
                lines.append((paid, topup(order, payer, _money(cents), paid, method=method)))
            if draw(st.booleans()):
                at = asked + timedelta(hours=draw(st.integers(1, 24 * 10)))
                lines.append((at, (fail if draw(st.booleans()) else activate)(order, at)))
        for _ in range(draw(st.integers(0, 1 if not on("refunds") else 2))):
            at = draw(_instants())
            lines.append((at, refund(fresh("RF"), customer, at)))
    if on("redeliver"):
        # redeliver some events later (same id, same body)
        for index in draw(st.lists(st.integers(0, len(lines) - 1), max_size=3)):
            lines.append(lines[index])
    return lines


def _deliver(books: Books, lines: list[Line]) -> None:
    for line in lines:
        if isinstance(line, Sweep):
            books.sweep("all", line.as_of)
        else:
            books.record_one(line)


CORRECTION_TYPES = {
    "notification.voided",
    "credit.reinstated",
    "hold.reinstated",
    "spid.order_reinstated",
    "request.reconsidered",
}
ADVICE = {"credit.expiring_soon", "spid.deadline_approaching", "sweep.completed", "event.late"}


def standing_notifications(engine: Engine) -> Counter[str]:
    with engine.connect() as connection:
        payloads = (
            connection.execute(select(schema.outbox.c.payload).order_by(schema.outbox.c.position))
            .scalars()
            .all()
        )
    notes = [json.loads(p) for p in payloads]
    voided = Counter(n["data"]["voided_id"] for n in notes if n["type"] in CORRECTION_TYPES)
    assert all(v == 1 for v in voided.values()), f"voided twice: {voided}"
    ids = Counter(n["id"] for n in notes)
    assert all(v == 1 for v in ids.values())
    assert set(voided) <= set(ids), "voids something never told"
    return Counter(
        json.dumps([n["type"], n["time"], n["data"]], sort_keys=True)
        for n in notes
        if n["id"] not in voided and n["type"] not in CORRECTION_TYPES | ADVICE
    )


def standing_entries(engine: Engine) -> Counter[str]:
    entry, posting = schema.journal_entries.c, schema.postings.c
    with engine.connect() as connection:
        rows = connection.execute(select(schema.journal_entries)).all()
        reversed_ids = set(
            connection.execute(
                select(entry.reverses_entry_id).where(entry.reverses_entry_id.is_not(None))
            ).scalars()
        )
        lines = connection.execute(
            select(posting.entry_id, posting.account, posting.credit_id, posting.amount_cents)
        ).all()
    by: dict[int, list[Any]] = {}
    for line in lines:
        by.setdefault(line.entry_id, []).append((line.account, line.credit_id, line.amount_cents))
    return Counter(
        repr((r.kind, r.customer_id, r.effective_at, r.memo, sorted(by[r.entry_id], key=repr)))
        for r in rows
        if r.reverses_entry_id is None and r.entry_id not in reversed_ids
    )


def _check(
    in_order: Engine, late: Engine, events: list[tuple[datetime, Line]], delays: list[int]
) -> None:
    stream = [*events, *SWEEPS]
    ordered = [line for _, line in sorted(stream, key=lambda pair: pair[0])]
    waits = [*delays, *[0] * len(SWEEPS)]
    arrivals = sorted(
        (at + timedelta(minutes=wait), index)
        for index, ((at, _), wait) in enumerate(zip(stream, waits, strict=True))
    )
    delayed = [stream[index][1] for _, index in arrivals]
    for arrival, index in arrivals:
        if index < len(events):
            note(
                f"arrives {arrival:%m-%d %H:%M} (business time "
                f"{stream[index][0]:%m-%d %H:%M}): {_describe(stream[index][1])}"
            )
    _deliver(Books(in_order, POLICY), ordered)
    _deliver(Books(late, POLICY), delayed)
    for engine in (in_order, late):
        assert_books_balance(engine)
        assert_books_never_negative_in_business_time(engine)
    expected, found = _state(in_order), _state(late)
    for name, rows in expected.items():
        missing = [row for row in rows if row not in found[name]]
        extra = [row for row in found[name] if row not in rows]
        assert (name, missing, extra) == (name, [], [])
    if on("cmp_journal"):
        a, b = standing_entries(in_order), standing_entries(late)
        assert ("journal", sorted((a - b).elements()), sorted((b - a).elements())) == (
            "journal",
            [],
            [],
        )
    if on("cmp_notes"):
        a, b = standing_notifications(in_order), standing_notifications(late)
        assert ("notes", sorted((a - b).elements()), sorted((b - a).elements())) == (
            "notes",
            [],
            [],
        )


def _delays(count: int) -> st.SearchStrategy[list[int]]:
    within = POLICY.allowed_lateness_days * 24 * 60
    return st.lists(st.one_of(st.just(0), st.integers(0, within)), min_size=count, max_size=count)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_attack8_wider_late_delivery(template: Path, data: st.DataObject) -> None:  # noqa: F811
    stream = data.draw(streams())
    delays = data.draw(_delays(len(stream)))
    for in_order, late in _sqlite_pair(template):
        _check(in_order, late, stream, delays)
