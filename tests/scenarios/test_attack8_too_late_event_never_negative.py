"""attack8: an event later than the allowed lateness is judged against the books as they
stand now, but books its entries at its own business time.

The refund below is judged on the credit's remainder today (40.00, restored on 1 May
by a failed order) and booked on 25 April, when that remainder was in
``credit_applied``: between 25 April and 1 May ``credit_available`` is -40.00.
R11 (SPEC §1): no balance is ever negative, at every instant. (The path for history
from before 0005, "judged against the books as they stand", books the same way.)
"""

from scenarios.kit import (
    CUSTOMER,
    Books,
    assert_books_never_negative_in_business_time,
    fail,
    pay,
    refund,
    rome,
    transfer,
)

from ledger.policy import Policy


def test_a_too_late_refund_never_makes_available_credit_negative_at_any_instant(
    ledger: Books,
) -> None:
    """SPID credit CR-SP0001 (40.00, refundable) paid MI0100 on 20 April; MI0100 failed on
    1 May and the credit came back. A refund dated 25 April arrives after the watermark
    reached 30 May (too late under an allowed lateness of 7 days: placed at the settled
    horizon, reported ``event.late``)."""
    ledger = ledger.under(Policy(allowed_lateness_days=7))
    ledger.record(pay("SP0001", CUSTOMER, "40.00", rome(2026, 1, 10), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 11, 4, 30))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", rome(2026, 4, 20)))
    ledger.record(fail("MI0100", rome(2026, 5, 1)))
    ledger.sweep("all", rome(2026, 5, 30, 4, 30))

    ledger.record(refund("RF1", CUSTOMER, rome(2026, 4, 25)))

    assert ledger.only("event.late")["event_type"] == "credit.requested"
    assert_books_never_negative_in_business_time(ledger.engine)
