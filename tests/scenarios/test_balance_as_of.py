"""`residuo balance --as-of T` reads the journal as it stood at T (business time): the
postings effective by T, whatever was recorded or swept since."""

from datetime import datetime

from scenarios.kit import CUSTOMER, Books, fail, pay, refund, rome, transfer
from sqlalchemy import select

from ledger.store import schema

BUCKETS = ("granted", "remaining", "held", "used", "refunded", "forfeited")


def buckets_at(ledger: Books, as_of: datetime) -> list[tuple[object, ...]]:
    """Each credit's status and buckets at `as_of`, soonest-expiring first."""
    return [
        (line.credit_id, line.status, *(getattr(line, name) for name in BUCKETS))
        for line in ledger.balance(CUSTOMER, as_of).credits
    ]


def test_an_earlier_instant_shows_the_credit_before_its_hold_and_its_forfeiture(
    ledger: Books,
) -> None:
    """Granted, held for a transfer, released when the top-up never came, forfeited at
    expiry: each instant shows its own stage, long after all of it was swept."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10, 9, 30)),
        fail("MI0001", rome(2026, 1, 11)),
        transfer("R1", CUSTOMER, "MI0100", "150.00", rome(2026, 3, 1)),
    )
    ledger.sweep("holds", rome(2026, 5, 1))
    ledger.sweep("expiry", rome(2027, 2, 1))

    assert buckets_at(ledger, rome(2026, 1, 10, 12)) == []
    assert ledger.balance(CUSTOMER, rome(2026, 1, 10, 12)).available == 0
    assert buckets_at(ledger, rome(2026, 2, 1)) == [
        ("CR-MI0001", "available", 10000, 10000, 0, 0, 0, 0)
    ]
    assert buckets_at(ledger, rome(2026, 3, 15)) == [
        ("CR-MI0001", "held", 10000, 0, 10000, 0, 0, 0)
    ]
    assert ledger.balance(CUSTOMER, rome(2026, 3, 15)).available == 0
    assert buckets_at(ledger, rome(2026, 5, 2)) == [
        ("CR-MI0001", "available", 10000, 10000, 0, 0, 0, 0)
    ]
    assert buckets_at(ledger, rome(2027, 1, 10, 9, 29)) == [
        ("CR-MI0001", "available", 10000, 10000, 0, 0, 0, 0)
    ]
    assert buckets_at(ledger, rome(2027, 1, 10, 9, 30)) == [
        ("CR-MI0001", "expired", 10000, 0, 0, 0, 0, 10000)
    ]


def test_an_instant_before_a_refund_shows_the_refundable_remainder(ledger: Books) -> None:
    """A SPID credit partly used, then refunded: before the refund the rest is there."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 15), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 20))
    ledger.record(
        transfer("R1", CUSTOMER, "MI0100", "9.90", rome(2026, 5, 1)),
        refund("R2", CUSTOMER, rome(2026, 6, 1)),
    )

    assert buckets_at(ledger, rome(2026, 5, 15)) == [
        ("CR-SP0001", "available", 4990, 4000, 0, 990, 0, 0)
    ]
    assert buckets_at(ledger, rome(2026, 6, 2)) == [
        ("CR-SP0001", "used+refunded", 4990, 0, 0, 990, 4000, 0)
    ]


def test_the_latest_instant_shows_the_credit_buckets_as_stored(ledger: Books) -> None:
    """At a time after every effect, the journal's view and the stored buckets agree."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)),
        fail("MI0001", rome(2026, 1, 11)),
        pay("MI0002", CUSTOMER, "30.00", rome(2026, 2, 10)),
        fail("MI0002", rome(2026, 2, 11)),
        transfer("R1", CUSTOMER, "MI0100", "120.00", rome(2026, 3, 1)),
    )

    lines = ledger.balance(CUSTOMER, rome(2026, 3, 2)).credits
    with ledger.engine.connect() as connection:
        stored = connection.execute(
            select(schema.credits).order_by(schema.credits.c.expires_at)
        ).all()

    assert [(line.credit_id, line.granted, line.remaining, line.used) for line in lines] == [
        (row.credit_id, row.granted_cents, row.available_cents, row.used_cents) for row in stored
    ]
    assert [line.remaining for line in lines] == [0, 1000]
