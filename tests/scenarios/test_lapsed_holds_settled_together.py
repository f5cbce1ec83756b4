"""R6: whatever event comes after a customer's holds lapsed, they are released together,
in key order, as a holds run releases them (``SweepPass.whole_customers``): a request
and a top-up paid after its own hold lapsed both settle what fell due for the customer
first (``ledger.fell_due``). A top-up used to release its own hold alone, which,
for two holds of one credit expiring between their due dates, forfeited less and left
money available on the expired credit (found by review)."""

from scenarios.kit import Books, activate, refund, rome, topup
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


def test_a_late_topup_settles_the_customers_lapsed_holds_in_key_order(ledger: Books) -> None:
    """The same history with a top-up for R2's order paid on 16 January instead of the
    request: the books are those of the request (and of a holds run). Before the fix
    R2 was released alone (30.00 forfeited), R1 stayed held though lapsed, and the next
    holds run released it with nothing forfeited, leaving 70.00 available on the
    expired credit."""
    ledger.record(
        *_two_holds_of_one_credit("0001", "R1", "R2"), topup("NO00012", "0001", "5.00", LATE)
    )
    ledger.sweep("holds", rome(2027, 1, 20, 4, 30))

    released = {each["order_id"]: each["forfeited"] for each in ledger.data("hold.released")}
    assert released == {"NO00011": "0.00", "NO00012": "100.00"}
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["held"], credit["forfeited"]) == (0, 0, 10000)


def test_an_activation_after_both_holds_lapsed_releases_them_in_key_order(ledger: Books) -> None:
    """An event about R2's order itself (its activation, reported after its window
    lapsed) releases R2 with R1, in key order, as a holds run would: 100.00 forfeited
    by R2's release, nothing left on the expired credit. It used to release R2 alone."""
    ledger.record(*_two_holds_of_one_credit("0001", "R1", "R2"), activate("NO00012", LATE))
    ledger.sweep("holds", rome(2027, 1, 20, 4, 30))

    released = {each["order_id"]: each["forfeited"] for each in ledger.data("hold.released")}
    assert released == {"NO00011": "0.00", "NO00012": "100.00"}
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["held"], credit["forfeited"]) == (0, 0, 10000)
