"""Finance reports read at a recorded time (``known_at``): a late event reverses a
forfeiture of a month already closed, dated like the forfeiture; the month's breakage and
the liability before it then change, and read as known at the close they are still the
figures finance booked (attack10 §6)."""

from __future__ import annotations

from datetime import datetime

from scenarios.kit import CUSTOMER, ROME, Books, fail, pay, rome, transfer

from ledger.reports import BreakageLine, LiabilityLine, breakage, liability

JANUARY = (datetime(2026, 1, 1, tzinfo=ROME), datetime(2026, 2, 1, tzinfo=ROME))
END_OF_JANUARY = datetime.fromisoformat("2026-01-31T23:59:59+01:00")


def forfeiture_reversed_in_february(ledger: Books) -> None:
    """CR-MI0001 (100.00, paid 10 January 2025, its activation failed) expires on
    10 January 2026 and the sweep forfeits it, recorded that day; on 3 February a
    transfer of 100.00 requested on 5 January arrives: the derivation uses the credit,
    and the forfeiture is reversed, dated 10 January like what it reverses."""
    recorded = [datetime.fromisoformat("2026-01-10T12:00:00+01:00")]
    books = Books(ledger.engine, clock=lambda: recorded[0])
    books.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2025, 1, 10, 9, 30)),
        fail("MI0001", rome(2025, 1, 11)),
    )
    books.sweep("expiry", rome(2026, 1, 10, 9, 30))
    recorded[0] = datetime.fromisoformat("2026-02-03T09:00:00+01:00")
    books.record(transfer("R1", CUSTOMER, "MI0100", "100.00", rome(2026, 1, 5)))


def test_breakage_of_january_known_at_its_close_still_shows_the_forfeiture(
    ledger: Books,
) -> None:
    """Known at the end of January, January's breakage is the forfeiture of 100.00; as
    the books stand, the same forfeiture and its reversal net to nothing."""
    forfeiture_reversed_in_february(ledger)

    then = breakage(ledger.engine, *JANUARY, known_at=END_OF_JANUARY)
    now = breakage(ledger.engine, *JANUARY)

    assert then.lines == [BreakageLine("activation_failed", "credit_forfeited", 1, 10000)]
    assert (then.total_cents, then.reconciled, then.known_at) == (10000, True, END_OF_JANUARY)
    assert now.lines == [
        BreakageLine("activation_failed", "credit_forfeited", 1, 10000),
        BreakageLine("activation_failed", "reversal", 1, -10000),
    ]
    assert (now.total_cents, now.reconciled, now.known_at) == (0, True, None)


def test_liability_known_at_the_close_still_owes_the_credit_the_transfer_used(
    ledger: Books,
) -> None:
    """On 7 January, known at the end of January, the customer was owed 100.00 expiring
    in January 2026; as the books stand, the transfer of 5 January had used it."""
    forfeiture_reversed_in_february(ledger)

    then = liability(ledger.engine, rome(2026, 1, 7), ROME, known_at=END_OF_JANUARY)
    now = liability(ledger.engine, rome(2026, 1, 7), ROME)

    assert then.lines == [LiabilityLine("2026-01", "activation_failed", 1, 10000, 0)]
    assert (then.outstanding_cents, then.reconciled) == (10000, True)
    assert now.lines == []
    assert (now.outstanding_cents, now.reconciled) == (0, True)
