"""Attack on issue 7, kind 4: telling a redelivery from an id reused for another body.

The body hash canonicalises order numbers and amounts but not instants: the same
payment re-sent with `paid_at` in UTC instead of +01:00 (one instant) is reported as an
id conflict, and ops are told to re-send it under a new id, which books it a second
time (`order_already_paid`, money in unmatched payments that was never paid twice).
This test fails on the code of issue 7's fix.
"""

from datetime import UTC

from scenarios.kit import CUSTOMER, Books, pay, rome

from ledger.service import Recorded


def test_the_same_payment_restamped_in_utc_is_a_redelivery(ledger: Books) -> None:
    """Seen: `Recorded.CONFLICT` and `event.rejected` `id_conflict`."""
    paid_at = rome(2025, 3, 1)
    ledger.record(pay("MI0001", CUSTOMER, "30.00", paid_at, id="evt-1"))

    again = ledger.record(pay("MI0001", CUSTOMER, "30.00", paid_at.astimezone(UTC), id="evt-1"))

    assert again == [Recorded.DUPLICATE]
    assert ledger.data("event.rejected") == []
