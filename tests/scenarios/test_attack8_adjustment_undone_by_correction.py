"""attack8: an operator's adjustment is undone whole by a later correction.

``ledger.adjustments`` promises that "a correction by hand is never undone by a
correction by the books": adjustments are re-applied in their turn whenever the books
are derived again. But they are re-applied all or nothing: a void of 20.00 that finds,
in the derived books, only 5.00 available is refused (``amount_too_large``), its entry
reversed and its ``credit.adjusted`` voided. What the operator decided disappears; ops
only get an ``event.rejected`` naming the adjustment's id, and the customer keeps the
credit the operator took back.
"""

from scenarios.kit import CUSTOMER, Books, fail, pay, rome, transfer


def test_a_void_by_hand_still_stands_after_a_late_transfer_spent_part_of_the_credit(
    ledger: Books,
) -> None:
    """CR-MI0001 (30.00). On 10 February ops void 20.00 of it. A transfer of 25.00 dated
    9 February arrives afterwards (late, within the allowed lateness). The operator's
    void must still stand (taking what is left to void), not vanish."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))
    ledger.record(pay("MI0002", CUSTOMER, "1.00", rome(2026, 2, 10)))
    ledger.adjust("void", CUSTOMER, rome(2026, 2, 10, 12), credit_id="CR-MI0001", amount="20.00")

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "25.00", rome(2026, 2, 9)))

    assert ledger.only("credit.applied")["applied"] == "25.00"
    assert [each["action"] for each in ledger.standing("credit.adjusted")] == ["voided"]
    assert ledger.credit("CR-MI0001")["forfeited"] > 0
