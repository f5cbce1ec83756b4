"""An event id reused for a different body is reported, never money lost in silence.

`id` stays the idempotency key: the second body is not applied. But it is an upstream
fault, not a redelivery, and ops are told (`event.rejected`, `id_conflict`, with both
bodies' hashes); the body is kept with the rejected events.
"""

from scenarios.kit import CUSTOMER, Books, activate, fail, pay, rome
from sqlalchemy import select

from ledger.inbox import body_digest
from ledger.service import Recorded
from ledger.store import schema
from messages import parse_inbound


def test_an_id_reused_for_another_payment_handed_case(ledger: Books) -> None:
    """U1: the second `evt-1` (70.00 for MI0002) is reported with both hashes and kept."""
    outcomes = ledger.replay_case("integrity/U1_event_id_reused_for_other_payment")

    assert outcomes == [Recorded.APPLIED, Recorded.CONFLICT, Recorded.PARKED]
    reported = ledger.only("event.rejected")
    assert (reported["event_id"], reported["reason"]) == ("evt-1", "id_conflict")
    with ledger.engine.connect() as connection:
        first = connection.execute(
            select(schema.inbox.c.body_sha256).where(schema.inbox.c.event_id == "evt-1")
        ).scalar_one()
        kept, body = connection.execute(
            select(schema.rejected_events.c.body_sha256, schema.rejected_events.c.body)
        ).one()
    assert first in reported["detail"] and kept in reported["detail"]
    assert b'"70.00"' in body


def test_a_redelivery_is_a_duplicate_not_a_conflict(ledger: Books) -> None:
    """The same event again, even re-stamped with another envelope `time`, is a
    redelivery: nothing happens and nobody is told."""
    first = pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10), id="evt-1")
    body = first.model_dump(mode="json")
    body["time"] = rome(2026, 1, 12).isoformat()
    restamped = parse_inbound(body)

    assert ledger.record(first, first, restamped) == [
        Recorded.APPLIED,
        Recorded.DUPLICATE,
        Recorded.DUPLICATE,
    ]
    assert ledger.notifications() == []


def test_a_conflicting_body_is_reported_once_however_often_it_comes(ledger: Books) -> None:
    """Each distinct conflicting body is one report; another one is another report."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10), id="evt-1"))
    other = pay("MI0002", CUSTOMER, "70.00", rome(2026, 1, 10), id="evt-1")

    assert ledger.record(other, other) == [Recorded.CONFLICT, Recorded.CONFLICT]
    ledger.record(fail("MI0003", rome(2026, 1, 11), id="evt-1"))

    assert [each["event_type"] for each in ledger.data("event.rejected")] == [
        "payment.received",
        "activation.failed",
    ]


def test_a_reused_id_changes_nothing_in_the_books(ledger: Books) -> None:
    """The conflicting activation is not applied: the order stays as the first event left it."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10), id="evt-1"))
    ledger.record(activate("MI0001", rome(2026, 1, 11), id="evt-2"))

    ledger.record(fail("MI0001", rome(2026, 1, 12), id="evt-2"))

    assert ledger.data("credit.granted") == []
    assert ledger.only("event.rejected")["reason"] == "id_conflict"


def test_the_body_digest_ignores_the_envelope_and_the_case_of_order_numbers() -> None:
    """What an event says is its type and data: `mi0001` says what `MI0001` says."""
    lower = pay("mi0001", CUSTOMER, "30.00", rome(2026, 1, 10), id="a")
    upper = pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10), id="b")
    assert body_digest(lower) == body_digest(upper)
    assert body_digest(lower) != body_digest(pay("MI0001", CUSTOMER, "31.00", rome(2026, 1, 10)))
