"""attack8: a notification voided by a correction and then true again in order is lost.

Notification ids are UUIDv5 of their cause. A correction that voids one keeps the row
(``voided_by``); when an event applied in order later makes the very same statement true
again (same type, same cause), ``Context.notify`` inserts it with ``ON CONFLICT DO
NOTHING`` and the voided row's id absorbs it: nothing is told. A consumer rebuilding
the truth from the notifications (every one, less those voided) never learns it.
"""

from scenarios.kit import CUSTOMER, Books, fail, pay, rome, topup, transfer

from ledger.books import Account


def test_an_order_funded_again_after_its_funding_was_voided_is_told(ledger: Books) -> None:
    """CR-MI0001 (30.00). R1 asks 50.00 for MI0100 (30.00 held, 20.00 due); a 20.00
    top-up funds it (``order.funded``). R0, a 10.00 transfer dated the day before R1,
    comes late: in time order R1 held only 20.00 and the top-up left 10.00 due, so the
    funding is voided. A second top-up of 10.00 (in order) funds MI0100: the customer
    must be told so."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 3, 1)))
    ledger.record(topup("MI0100", CUSTOMER, "20.00", rome(2026, 3, 3)))
    ledger.record(transfer("R0", CUSTOMER, "MI0050", "10.00", rome(2026, 2, 28)))
    assert ledger.standing("order.funded") == []

    ledger.record(topup("MI0100", CUSTOMER, "10.00", rome(2026, 3, 5)))

    assert ledger.credit("CR-MI0001")["used"] == 3000  # the books say funded
    assert ledger.account(CUSTOMER, Account.TOPUPS_RECEIVED) == 3000
    funded = ledger.standing("order.funded")
    assert [(each["order_id"], each["applied"], each["paid"]) for each in funded] == [
        ("MI0100", "20.00", "30.00")
    ]
