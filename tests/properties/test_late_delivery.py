"""Late evidence: the same books whatever order events arrive in, within the allowed
lateness.

Random streams over several customers (card payments, SPID orders, failures and
activations, some reported before their payment, credit transfers, top-ups by
bollettino and bonifico paid in time or not, refunds, and a daily sweep) are delivered
twice: once in business-time order, once with each event delayed at random by up to
the allowed lateness (the sweeps keep their hour). Both must end with the same credits,
bucket by bucket, the same orders, transfers and requests, and R11 must hold at every
business instant in both.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
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
from servers import PostgresServer
from sqlalchemy import Engine, select, text

from ledger.policy import Policy
from ledger.store import schema
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from ledger.store.schema import metadata
from messages import InboundEvent

ROME = ZoneInfo("Europe/Rome")
START = datetime(2026, 1, 5, 4, 30, tzinfo=ROME)
DAYS = 30
# Short windows, so that thirty days see holds lapse, SPID orders time out and credit
# expire; the allowed lateness is the default's order of magnitude.
POLICY = Policy(
    credit_validity_months=1,
    spid_activation_days=12,
    hold_window_days=6,
    allowed_lateness_days=4,
)
CUSTOMERS = ("1111111@aruba.it", "2222222@aruba.it", "3333333@aruba.it")
EXAMPLES = int(os.environ.get("RESIDUO_HYPOTHESIS_EXAMPLES", "25"))


@dataclass(frozen=True)
class Sweep:
    as_of: datetime


Line = InboundEvent | Sweep


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@st.composite
def _instants(draw: st.DrawFn) -> datetime:
    """A minute in the stream's forty days, never on a sweep's minute."""
    minute = draw(st.integers(1, DAYS * 24 * 60 - 1).filter(lambda m: m % (24 * 60) != 0))
    return START + timedelta(minutes=minute)


SWEEPS: list[tuple[datetime, Line]] = [
    (START + timedelta(days=day), Sweep(START + timedelta(days=day))) for day in range(1, DAYS + 1)
]


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[datetime, Line]]:
    """Events, each at its business time, in no particular order."""
    lines: list[tuple[datetime, Line]] = []
    serial = iter(range(1, 10_000))

    def fresh(prefix: str) -> str:
        return f"{prefix}{next(serial):04d}"

    for customer in CUSTOMERS:
        for _ in range(draw(st.integers(1, 3))):
            order, paid = fresh("MI"), draw(_instants())
            spid = draw(st.booleans())
            amount = draw(st.sampled_from([1000, 2500, 4990]))
            service = "spid" if spid else "hosting"
            lines.append((paid, pay(order, customer, _money(amount), paid, service=service)))
            outcome = draw(st.sampled_from(["failed", "failed", "completed", None]))
            if outcome is not None:
                # Sometimes reported before the payment's own business time.
                at = paid + timedelta(hours=draw(st.integers(-30, 24 * 16)))
                lines.append((at, (fail if outcome == "failed" else activate)(order, at)))
        for _ in range(draw(st.integers(0, 2))):
            request, order, asked = fresh("RQ"), fresh("NO"), draw(_instants())
            amount = draw(st.sampled_from([500, 2000, 6000]))
            lines.append((asked, transfer(request, customer, order, _money(amount), asked)))
            for _ in range(draw(st.integers(0, 2))):
                paid = asked + timedelta(hours=draw(st.integers(-48, 24 * 8)))
                cents = draw(st.sampled_from([300, 1000, 3000]))
                method = draw(st.sampled_from(["bollettino", "bonifico"]))
                lines.append((paid, topup(order, customer, _money(cents), paid, method=method)))
            if draw(st.booleans()):
                at = asked + timedelta(hours=draw(st.integers(1, 24 * 10)))
                lines.append((at, (fail if draw(st.booleans()) else activate)(order, at)))
        if draw(st.booleans()):
            at = draw(_instants())
            lines.append((at, refund(fresh("RF"), customer, at)))
    return lines


def _deliver(books: Books, lines: list[Line]) -> None:
    for line in lines:
        if isinstance(line, Sweep):
            books.sweep("all", line.as_of)
        else:
            books.record_one(line)


def _state(engine: Engine) -> dict[str, Any]:
    """What must not depend on arrival order: credits, orders, transfers, requests."""
    tables = {
        "credits": (schema.credits, "credit_id"),
        "orders": (schema.orders, "order_id"),
        "transfers": (schema.transfers, "request_id"),
        "requests": (schema.credit_requests, "request_id"),
        "allocations": (schema.allocations, "request_id"),
    }
    state: dict[str, Any] = {}
    with engine.connect() as connection:
        for name, (table, key) in tables.items():
            rows = connection.execute(select(table)).mappings().all()
            state[name] = sorted((dict(row) for row in rows), key=lambda row: repr(row[key]))
    return state


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("late") / "residuo.sqlite3"
    engine = create_database_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _sqlite_pair(template: Path) -> Iterator[tuple[Engine, Engine]]:
    directory = Path(tempfile.mkdtemp(prefix="residuo-late-"))
    engines = []
    for name in ("in_order", "late"):
        shutil.copyfile(template, directory / f"{name}.sqlite3")
        engines.append(create_database_engine(f"sqlite:///{directory / name}.sqlite3"))
    try:
        yield engines[0], engines[1]
    finally:
        for engine in engines:
            engine.dispose()
        shutil.rmtree(directory, ignore_errors=True)


def _describe(line: Line) -> str:
    if isinstance(line, Sweep):
        return f"sweep {line.as_of:%m-%d %H:%M}"
    data = line.data.model_dump(mode="json", exclude_none=True)
    return f"{line.id} {line.type} {data}"


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
            note(f"arrives {arrival:%m-%d %H:%M}: {_describe(stream[index][1])}")
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


def _delays(count: int) -> st.SearchStrategy[list[int]]:
    within = POLICY.allowed_lateness_days * 24 * 60
    return st.lists(st.one_of(st.just(0), st.integers(0, within)), min_size=count, max_size=count)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_late_delivery_within_the_allowed_lateness_leaves_the_same_books(
    template: Path, data: st.DataObject
) -> None:
    """On SQLite: delayed delivery ends with the books of business-time order."""
    stream = data.draw(streams())
    delays = data.draw(_delays(len(stream)))
    for in_order, late in _sqlite_pair(template):
        _check(in_order, late, stream, delays)


@pytest.mark.integration
def test_late_delivery_leaves_the_same_books_on_postgresql(postgres_server: PostgresServer) -> None:
    """The same property, fewer examples, on two PostgreSQL databases."""
    urls = [postgres_server.create_database() for _ in range(2)]
    engines = [create_database_engine(url) for url in urls]
    for engine in engines:
        upgrade(engine)

    @settings(
        max_examples=max(EXAMPLES // 5, 3), deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        stream = data.draw(streams())
        delays = data.draw(_delays(len(stream)))
        tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        for engine in engines:
            with engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        _check(engines[0], engines[1], stream, delays)

    try:
        check()
    finally:
        for engine, url in zip(engines, urls, strict=True):
            engine.dispose()
            postgres_server.drop_database(url)
