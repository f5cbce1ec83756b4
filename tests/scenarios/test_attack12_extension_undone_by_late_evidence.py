"""attack12: a late payment that moves a credit's expiry a day earlier undoes an
operator's extension (``adjust extend``, ``credit_expired`` on re-derivation).

docs/late-evidence.md: "An adjustment is applied again whenever its customer's books
are derived again, so a correction by the books never undoes one by hand ... Only an
empty bucket refuses it then." Since ``extend`` refuses a credit already expired at
the adjustment's time, a derivation that finds the expiry earlier than it was when the
operator acted refuses the extension it once accepted.

Under a one-month validity (R12: policy is data), CR-MI0001 (30.00, MI0001 paid on 10
January 09:30, failed 11 January) expires on 10 February 09:30. On 10 February at 08:00,
while it is still usable, an operator extends it until 1 June; the customer is told
(``credit.adjusted``). A duplicate card payment of MI0001 made on 9 January then
arrives late: the expiry is derived again as 9 February 09:30, the extension is
re-applied at 10 February 08:00, refused as ``credit_expired``, its ``credit.adjusted``
voided, and the next expiry sweep forfeits the 30.00. The customer and the operator
expect the extension to stand: it was granted by hand on a credit that was usable
then, and the correction must not undo it (the credit runs until 1 June).
"""

from scenarios.kit import CUSTOMER, Books, fail, pay, rome

from ledger.policy import Policy


def test_an_extension_stands_when_late_evidence_moves_the_expiry_earlier(
    ledger: Books,
) -> None:
    books = ledger.under(Policy(credit_validity_months=1))
    books.record(
        pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10, 9, 30)),
        fail("MI0001", rome(2026, 1, 11)),
    )
    books.adjust(
        "extend", CUSTOMER, rome(2026, 2, 10, 8), credit_id="CR-MI0001", until=rome(2026, 6, 1)
    )

    books.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 9, 9, 30)))
    books.sweep("expiry", rome(2026, 2, 11))

    assert [each["action"] for each in books.standing("credit.adjusted")] == ["extended"]
    credit = books.credit("CR-MI0001")
    assert (credit["expires_at"], credit["available"]) == (rome(2026, 6, 1), 3000)
