"""Rules judge an event at its own business time (paid_at, failed_at, activated_at,
requested_at) and a sweep at its as_of, never at the moment a worker processes them: a
replay, a redelivery or a backlog of the same events gives the same books."""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scenarios.kit import (
    CUSTOMER,
    OTHER_CUSTOMER,
    Books,
    assert_books_balance,
    fail,
    journal_of,
    pay,
    refund,
    rome,
    topup,
    transfer,
)
from sqlalchemy import select

from ledger.service import Recorded
from ledger.store import schema
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import InboundEvent

Step = InboundEvent | datetime  # an event to record, or the as_of of an "all" sweep

STORY: list[Step] = [
    pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10, 9, 30)),
    fail("MI0002", rome(2026, 1, 21)),  # before its payment
    pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 15), service="spid"),
    fail("MI0001", rome(2026, 1, 11)),
    pay("MI0002", OTHER_CUSTOMER, "60.00", rome(2026, 1, 20)),
    rome(2026, 4, 16),
    transfer("R1", CUSTOMER, "MI0100", "170.00", rome(2026, 5, 1)),
    topup("MI0100", CUSTOMER, "10.00", rome(2026, 5, 3)),
    transfer("R2", OTHER_CUSTOMER, "MI0200", "25.00", rome(2026, 5, 4)),
    rome(2026, 6, 1),
    refund("R3", CUSTOMER, rome(2026, 6, 2)),
    rome(2026, 12, 15),
    rome(2027, 2, 1),
]


def play(books: Books, story: list[Step]) -> list[Recorded]:
    outcomes = []
    for step in story:
        if isinstance(step, datetime):
            books.sweep("all", step)
        else:
            outcomes.extend(books.record(step))
    return outcomes


def notifications(books: Books, *, leave_out: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
    return [
        (note.id, note.type, note.time, note.data)
        for note in books.notifications()
        if note.type not in leave_out
    ]


def fresh_sqlite(tmp_path: Path, name: str) -> Books:
    engine = create_database_engine(f"sqlite:///{tmp_path / name}")
    upgrade(engine)
    return Books(engine)


def test_replaying_the_same_events_gives_the_same_books(ledger: Books, tmp_path: Path) -> None:
    """The story played into a second, empty database (SQLite, whatever the first one is)
    writes the same entries, effective dates and notifications, ids included."""
    play(ledger, STORY)
    replica = fresh_sqlite(tmp_path, "replica.sqlite3")

    play(replica, STORY)

    assert journal_of(replica.engine) == journal_of(ledger.engine)
    assert notifications(replica) == notifications(ledger)
    replica.engine.dispose()


def test_redelivering_the_whole_stream_changes_nothing(ledger: Books) -> None:
    """Every event a second time is a duplicate; sweeps again add nothing."""
    play(ledger, STORY)
    journal, sent = ledger.journal(), notifications(ledger, leave_out=("sweep.completed",))

    outcomes = play(ledger, STORY)

    assert set(outcomes) == {Recorded.DUPLICATE}
    assert ledger.journal() == journal
    assert notifications(ledger, leave_out=("sweep.completed",)) == sent


def test_one_catch_up_sweep_writes_what_punctual_sweeps_wrote(
    ledger: Books, tmp_path: Path
) -> None:
    """Sweeps that did not run for months, then once: the same SPID cancellation, the same
    lapsed hold and forfeitures, each dated when it fell due (reminders aside: a catch-up
    only sends the closest, by R10)."""
    events = [step for step in STORY if not isinstance(step, datetime)]
    catch_up = fresh_sqlite(tmp_path, "catch_up.sqlite3")

    play(ledger, STORY)
    play(catch_up, [*events, rome(2027, 2, 1)])

    assert journal_of(catch_up.engine) == journal_of(ledger.engine)
    skip = ("sweep.completed", "credit.expiring_soon", "spid.deadline_approaching")
    assert notifications(catch_up, leave_out=skip) == notifications(ledger, leave_out=skip)
    assert_books_balance(catch_up.engine)
    catch_up.engine.dispose()


def test_a_failure_processed_long_after_is_dated_at_its_own_time(ledger: Books) -> None:
    """A failure processed after sweeps that ran past its time still grants credit dated
    at failed_at, expiring twelve months after payment; the next sweep forfeits it at
    that expiry, as a punctual run would have."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10, 9, 30)))
    ledger.sweep("all", rome(2027, 3, 1))

    ledger.record(fail("MI0001", rome(2026, 1, 11)))
    ledger.sweep("all", rome(2027, 3, 2))

    granted = [entry for entry in ledger.journal() if entry[0] == "credit_granted"]
    forfeited = [entry for entry in ledger.journal() if entry[0] == "credit_forfeited"]
    assert [entry[2] for entry in granted] == [rome(2026, 1, 11)]
    assert [entry[2] for entry in forfeited] == [rome(2027, 1, 10, 9, 30)]
    assert ledger.only("credit.expired")["expired_at"] == "2027-01-10T09:30:00+01:00"


def test_a_request_dated_before_expiry_is_honoured_when_processed_after_it(
    ledger: Books,
) -> None:
    """Requested a minute before expiry, processed a day later (sweep not yet run):
    judged at requested_at, the credit was still valid."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10, 9, 30)),
        fail("MI0001", rome(2026, 1, 11)),
    )

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "30.00", rome(2027, 1, 10, 9, 29)))
    ledger.sweep("all", rome(2027, 1, 11))

    assert ledger.only("credit.applied")["applied"] == "30.00"
    assert ledger.only("credit.expired")["forfeited"] == "70.00"


def test_a_request_dated_after_expiry_is_refused_although_no_sweep_ran(ledger: Books) -> None:
    """The same request dated at expiry: refused, whatever the sweep has not done yet."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10, 9, 30)),
        fail("MI0001", rome(2026, 1, 11)),
    )

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "30.00", rome(2027, 1, 10, 9, 30)))

    assert ledger.only("request.rejected")["reason"] == "credit_expired"


def test_the_order_of_delivery_of_unrelated_events_does_not_matter(
    ledger: Books, tmp_path: Path
) -> None:
    """Two customers' events interleaved differently give the same books."""
    mine = [
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)),
        fail("MI0001", rome(2026, 1, 11)),
        transfer("R1", CUSTOMER, "MI0100", "30.00", rome(2026, 2, 1)),
    ]
    theirs = [
        fail("MI0002", rome(2026, 1, 13)),
        pay("MI0002", OTHER_CUSTOMER, "60.00", rome(2026, 1, 12)),
        refund("R2", OTHER_CUSTOMER, rome(2026, 2, 2)),
    ]
    other_order = fresh_sqlite(tmp_path, "other_order.sqlite3")

    play(ledger, [*mine, *theirs])
    play(other_order, [event for pair in zip(theirs, mine, strict=True) for event in pair])

    assert journal_of(other_order.engine) == journal_of(ledger.engine)
    key: Callable[[tuple[Any, ...]], str] = lambda note: note[0]  # noqa: E731
    assert sorted(notifications(other_order), key=key) == sorted(notifications(ledger), key=key)
    other_order.engine.dispose()


def test_processing_time_never_shows_in_the_books(ledger: Books) -> None:
    """Processed years later, every entry is still dated by business time; the
    processing time is kept only as recorded_at, for audit."""
    processed = datetime(2031, 5, 5, 12, tzinfo=UTC)
    late = Books(ledger.engine, clock=lambda: processed)

    play(late, STORY)

    with ledger.engine.connect() as connection:
        rows = connection.execute(
            select(schema.journal_entries.c.effective_at, schema.journal_entries.c.recorded_at)
        ).all()
    assert {row.recorded_at for row in rows} == {processed}
    assert max(row.effective_at for row in rows) < rome(2027, 2, 1)
    assert min(row.effective_at for row in rows) == rome(2026, 1, 10, 9, 30)
    assert rome(2026, 4, 15) in {row.effective_at for row in rows}  # SP0001's deadline
    assert all(note.time < "2028" for note in late.notifications())
