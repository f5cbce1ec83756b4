"""attack8: one event dated in the future moves the watermark for good.

The watermark is the largest business time ever seen, from any customer, with no bound:
an upstream typo (``paid_at`` 2062 for 2026) puts it decades ahead, and it never comes
back. From then on every event behind its subjects' frontier, however little, is
"later than the allowed lateness": placed at a horizon in 2062, reported
``event.late``, and never corrected. Late evidence stops working for every customer,
and nothing tells ops why.
"""

from datetime import datetime

from scenarios.kit import (
    CUSTOMER,
    OTHER_CUSTOMER,
    Books,
    fail,
    pay,
    rome,
    topup,
    transfer,
)


def test_a_typo_in_the_future_does_not_switch_late_evidence_off(ledger: Books) -> None:
    """The first late-evidence case (a top-up paid in time, reported after the holds
    sweep released the hold) after another customer's payment dated 2062 came in: the
    hold must still be reinstated and the order funded. Processing happens in April
    2026 (the clock), so 2062 is not a business time residuo has really seen."""
    books = Books(ledger.engine, clock=lambda: datetime.fromisoformat("2026-04-02T09:00:00+02:00"))
    books.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    books.record(fail("MI0001", rome(2026, 1, 11)))
    books.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 3, 1)))
    books.sweep("all", rome(2026, 4, 1, 4, 30))
    books.record(pay("MI0900", OTHER_CUSTOMER, "5.00", rome(2062, 3, 31)))

    books.record(topup("MI0100", CUSTOMER, "20.00", rome(2026, 3, 30), method="bollettino"))

    assert books.data("event.late") == []
    assert books.only("hold.reinstated")["order_id"] == "MI0100"
    assert books.only("order.funded")["paid"] == "20.00"
