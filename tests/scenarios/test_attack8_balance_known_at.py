"""attack8: ``balance --known-at`` lists a credit the books did not hold then.

``--known-at R`` counts only the entries written by ``R``, but the credits it lists are
today's rows. A credit granted by a correction after ``R`` (its failure came late) is
listed as it was "known" at ``R`` with nothing granted and an empty ``status`` (none of
the documented values), rather than not at all: support reads a credit of 0.00 whose
state has no name.
"""

from datetime import datetime

from scenarios.kit import CUSTOMER, Books, fail, pay, rome, transfer

from ledger.queries import balance


def test_balance_known_before_a_credit_was_booked_does_not_list_it(ledger: Books) -> None:
    """MI0001 paid 10 January; a transfer of 20 January refused for want of credit; the
    failure of 15 January comes on 2 February and the correction grants CR-MI0001.
    Known on 1 February, the customer had no credit."""
    recorded = [datetime.fromisoformat("2026-02-01T09:00:00+01:00")]
    books = Books(ledger.engine, clock=lambda: recorded[0])
    books.record(pay("MI0001", CUSTOMER, "40.00", rome(2026, 1, 10)))
    books.record(transfer("R1", CUSTOMER, "MI0002", "15.00", rome(2026, 1, 20)))
    recorded[0] = datetime.fromisoformat("2026-02-02T09:00:00+01:00")
    books.record(fail("MI0001", rome(2026, 1, 15)))

    then = balance(
        ledger.engine,
        CUSTOMER,
        rome(2026, 3, 1),
        known_at=datetime.fromisoformat("2026-02-01T12:00:00+01:00"),
    )

    assert [(line.credit_id, line.status) for line in then.credits] == []
