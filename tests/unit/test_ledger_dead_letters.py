"""Dead letters in the books: which are resolved, and the audit of what ops decided."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ledger.dead_letters import DeadLetterRef, DeadLettersOnRecord
from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store import schema
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import body_id, parse_inbound

START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


class Clock:
    """The ledger's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> None:
        self.now += timedelta(minutes=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'books.sqlite3'}")
    upgrade(engine)
    yield Ledger(engine, Policy(), clock=clock)
    engine.dispose()


def payment(**overrides: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": "evt-pay",
        "source": "billing",
        "type": "payment.received",
        "time": "2026-01-10T09:30:00+01:00",
        "data": {
            "order_id": "MI0001",
            "customer_id": "1234567@aruba.it",
            "service": "hosting",
            "amount": "49.90",
            "currency": "EUR",
            "paid_at": "2026-01-10T09:30:00+01:00",
            "method": "card",
        },
    }
    return event | overrides


def refused(ledger: Ledger, body: bytes, event_id: str | None) -> DeadLetterRef:
    """Report ``body`` as an invalid event; the dead letter that carries it."""
    ledger.reject(
        body, reason="bad_amount", detail="data.amount: …", event_id=event_id, event_type=None
    )
    return DeadLetterRef(body_id(body), "residuo.events", event_id, None, "bad_amount")


def test_an_invalid_event_is_resolved_by_its_correction_applied_later(
    ledger: Ledger, clock: Clock
) -> None:
    """The publisher re-sends the event, fixed, under the same id: its dead letter is
    resolved, by that event id."""
    letter = refused(ledger, json.dumps(payment(data={"amount": "1.234"})).encode(), "evt-pay")
    assert ledger.resolved_dead_letters([letter]) == {}

    clock.tick()
    ledger.record(parse_inbound(payment()))

    assert ledger.resolved_dead_letters([letter]) == {letter.dead_letter_id: "evt-pay"}


def test_an_invalid_body_reusing_an_id_applied_before_stays_unresolved(
    ledger: Ledger, clock: Clock
) -> None:
    """Another body under an id already in the books is not a correction: ops must
    look at it."""
    ledger.record(parse_inbound(payment()))
    clock.tick()
    letter = refused(ledger, b'{"id": "evt-pay", "type": "payment.received"}', "evt-pay")

    assert ledger.resolved_dead_letters([letter]) == {}


def test_a_valid_event_dead_lettered_after_its_retries_is_resolved_once_recorded(
    ledger: Ledger,
) -> None:
    """No rejection on record (it ran out of retries): once its id is in the books, a
    replay would only be a duplicate."""
    body = json.dumps(payment()).encode()
    letter = DeadLetterRef(body_id(body), "residuo.events", "evt-pay", None, "retries_exhausted")
    assert ledger.resolved_dead_letters([letter]) == {}

    ledger.record(parse_inbound(payment()))

    assert ledger.resolved_dead_letters([letter]) == {letter.dead_letter_id: "evt-pay"}


def test_dead_letters_without_an_event_id_or_of_sweeps_are_never_resolved(
    ledger: Ledger,
) -> None:
    """Nothing in the books can stand for them: ops decide."""
    ledger.record(parse_inbound(payment()))
    no_id = refused(ledger, b"{not json", None)
    sweep = DeadLetterRef("0b9f…-uuid", "residuo.sweeps", "evt-pay", None, "not_retryable")

    assert ledger.resolved_dead_letters([no_id, sweep]) == {}


def test_an_archive_keeps_the_body_and_who_decided_why(ledger: Ledger, clock: Clock) -> None:
    """The audit row says what, who, when and why; only an archive keeps the body."""
    body = b"{not json"
    letter = refused(ledger, body, None)

    ledger.record_dead_letter_disposition(
        letter, action="archived", operator="ops-anna", reason="garbage from a test", body=body
    )
    ledger.record_dead_letter_disposition(
        letter, action="dropped", operator="ops-bruno", reason="duplicate", body=body
    )

    with ledger.engine.connect() as connection:
        rows = connection.execute(
            select(schema.dead_letter_dispositions).order_by(
                schema.dead_letter_dispositions.c.disposition_id
            )
        ).all()
    assert [(row.action, row.operator, row.operator_reason, row.body) for row in rows] == [
        ("archived", "ops-anna", "garbage from a test", body),
        ("dropped", "ops-bruno", "duplicate", None),
    ]
    assert {row.dead_letter_id for row in rows} == {body_id(body)}
    assert {row.decided_at for row in rows} == {clock.now}


def test_a_drop_without_a_reason_is_refused_by_the_books(ledger: Ledger) -> None:
    """The table's check: a drop or an archive says why."""
    letter = refused(ledger, b"{not json", None)

    with pytest.raises(IntegrityError):
        ledger.record_dead_letter_disposition(letter, action="dropped", operator="ops", reason=None)


def test_the_books_count_the_dead_letters_still_queued_and_the_resolved_among_them(
    ledger: Ledger, clock: Clock
) -> None:
    """``residuo status`` reads the books, not the queue: every refused body is a dead
    letter until a disposition takes it out; the resolved are those the rule of
    `resolved_dead_letters` resolves; an id conflict is reported but never queued."""
    corrected = refused(ledger, json.dumps(payment(data={"amount": "1.234"})).encode(), "evt-pay")
    garbage = refused(ledger, b"{not json", None)
    archived = refused(ledger, b'{"id": "evt-x"}', "evt-x")
    ledger.record_dead_letter_disposition(
        archived, action="archived", operator="ops", reason="test", body=b'{"id": "evt-x"}'
    )
    assert ledger.inbound_dead_letters_on_record() == DeadLettersOnRecord(2, 0)

    clock.tick()
    ledger.record(parse_inbound(payment()))
    clock.tick()
    conflict = payment(data=payment()["data"] | {"amount": "12.00"})
    ledger.record(parse_inbound(conflict))  # the same id, another body: reported only

    on_record = ledger.inbound_dead_letters_on_record()
    assert on_record == DeadLettersOnRecord(outstanding=2, resolved=1)
    assert ledger.resolved_dead_letters([corrected, garbage]) == {
        corrected.dead_letter_id: "evt-pay"
    }
    with ledger.engine.connect() as connection:
        reasons = connection.execute(select(schema.rejected_events.c.reason)).scalars().all()
    assert sorted(reasons) == ["bad_amount", "bad_amount", "bad_amount", "id_conflict"]


def test_a_replayed_dead_letter_is_no_longer_counted_even_if_it_came_back(
    ledger: Ledger, clock: Clock
) -> None:
    """A replay takes the letter out; if it bounces back the books cannot tell (the
    rejection is on record once per body), so it is not counted resolved: the safe
    side, which at worst counts it unresolved."""
    corrected = refused(ledger, json.dumps(payment(data={"amount": "1.234"})).encode(), "evt-pay")
    ledger.record_dead_letter_disposition(corrected, action="replayed", operator="ops", reason=None)
    clock.tick()
    ledger.record(parse_inbound(payment()))

    assert ledger.inbound_dead_letters_on_record() == DeadLettersOnRecord(0, 0)
