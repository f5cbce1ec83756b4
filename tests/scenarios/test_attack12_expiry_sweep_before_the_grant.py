"""attack12: an expiry sweep judged at an instant before a credit was granted forfeits it,
and the next late event takes the forfeiture back (R4, R11, late evidence).

CR-MI0001 (30.00) expires on 10 January 2026 09:30; MI0001's activation fails on 15
January, so the credit is granted already expired (R4: forfeited at its grant,
``CreditState.forfeited_at``). An expiry sweep as of 12 January runs after the failure
was recorded (a scheduler catch-up after an outage, docs/scheduler.md, or an operator's
``residuo sweep expiry --as-of``). The credit did not exist on 12 January: that sweep
books a forfeiture dated 15 January, after its own ``as_of``, and the derivation of
business-time order (docs/late-evidence.md: "what the sweeps had settled settled again
at the same dates") does not. So the next late event of the customer (an unrelated
payment of 11 January) reverses the forfeiture and tells ``credit.reinstated``; the
next sweep forfeits it again and tells ``credit.expired`` a second time.

A customer expects one ``credit.expired`` for one expiry and no reinstatement nobody
made: a sweep settles what existed at its ``as_of`` (as the reminders pass already
does: "a credit granted after as_of ... did not exist then").
"""

from scenarios.kit import CUSTOMER, Books, fail, pay, rome


def test_an_unrelated_late_payment_does_not_reinstate_an_expired_credit(ledger: Books) -> None:
    ledger.record(
        pay("MI0001", CUSTOMER, "30.00", rome(2025, 1, 10, 9, 30)),
        fail("MI0001", rome(2026, 1, 15)),
    )
    ledger.sweep("expiry", rome(2026, 1, 12))
    ledger.record(pay("MI0002", CUSTOMER, "10.00", rome(2026, 1, 11)))
    ledger.sweep("expiry", rome(2026, 1, 16))

    assert ledger.data("credit.reinstated") == []
    assert len(ledger.data("credit.expired")) == 1
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["forfeited"]) == (0, 3000)
