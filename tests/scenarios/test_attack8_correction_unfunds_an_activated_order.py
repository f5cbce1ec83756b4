"""attack8: a correction takes the funding from an order already activated, in silence.

MI0100 was paid with SPID credit and activated (service delivered). The SPID order's
activation, dated before its deadline, comes late: in business-time order the SPID
order was never cancelled, there was no credit, and R1 is refused. The correction
tells the customer (``request.reconsidered``, ``request.rejected``) but MI0100's
``activation.completed``, applied before, is now *parked* waiting for a payment:
nothing voided, nothing reported. Ops never learn that a live service lost what paid
for it; the event waits in the inbox for good (issue 7, "nothing silent").
"""

from scenarios.kit import CUSTOMER, Books, activate, pay, rome, transfer


def test_ops_hear_of_an_activated_order_a_correction_left_unpaid(ledger: Books) -> None:
    """SP0001 cancelled by the sweep of 11 April (40.00 credit); R1 moves it onto MI0100
    (12 April), MI0100 activated; SP0001's activation of 9 April arrives on the 13th."""
    ledger.record(pay("SP0001", CUSTOMER, "40.00", rome(2026, 1, 10), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 11, 4, 30))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", rome(2026, 4, 12)))
    live = activate("MI0100", rome(2026, 4, 12, 12))
    ledger.record(live)

    ledger.record(activate("SP0001", rome(2026, 4, 9)))

    assert [each["reason"] for each in ledger.standing("request.rejected")] == ["no_credit"]
    told_ops = [each["event_id"] for each in ledger.standing("event.rejected")]
    assert live.id in told_ops
