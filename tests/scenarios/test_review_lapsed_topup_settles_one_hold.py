"""R6, found by review: a top-up paid after its hold lapsed releases that hold alone,
out of key order with the customer's other lapsed holds, where a request at the same
instant (``requests._settle_what_fell_due``) and a holds run (``SweepPass.whole_customers``)
settle all of them in key order. Strict xfail until decided: the same interaction the
chunk-order fix (2ba716f) removed from the holds run."""

import pytest
from scenarios.kit import Books, refund, rome, topup
from scenarios.test_holds_run_chunk_order import _two_holds_of_one_credit

LATE = rome(2027, 1, 16)


def test_a_request_after_both_holds_lapsed_forfeits_the_whole_credit(ledger: Books) -> None:
    """The baseline: R1 (70.00, due 20 December) and R2 (30.00, due 14 January) share
    CR-MI0001, expired on 10 January; a refund request on 16 January releases both in
    key order, and R2's release forfeits all 100.00."""
    ledger.record(*_two_holds_of_one_credit("0001", "R1", "R2"), refund("RF", "0001", LATE))

    released = {each["order_id"]: each["forfeited"] for each in ledger.data("hold.released")}
    assert released == {"NO00011": "0.00", "NO00012": "100.00"}
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["held"], credit["forfeited"]) == (0, 0, 10000)


@pytest.mark.xfail(strict=True, reason="a late top-up releases its own hold only")
def test_a_late_topup_settles_the_customers_lapsed_holds_in_key_order(ledger: Books) -> None:
    """The same history with a top-up for R2's order paid on 16 January instead of the
    request: the books should be those of the request (and of a holds run). Today R2
    is released alone (30.00 forfeited), R1 stays held though lapsed, and the next
    holds run releases it with nothing forfeited, leaving 70.00 available on the
    expired credit."""
    ledger.record(
        *_two_holds_of_one_credit("0001", "R1", "R2"), topup("NO00012", "0001", "5.00", LATE)
    )
    ledger.sweep("holds", rome(2027, 1, 20, 4, 30))

    released = {each["order_id"]: each["forfeited"] for each in ledger.data("hold.released")}
    assert released == {"NO00011": "0.00", "NO00012": "100.00"}
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["held"], credit["forfeited"]) == (0, 0, 10000)
