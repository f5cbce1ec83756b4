"""Attack on issue 7, kind 2: transfers and activation outcomes on orders changed by a
lapsed hold, and the lifecycle judged at business time whatever the arrival order.

README "Order lifecycle": a hold that lapses unpaid funded nothing, its order is `new`
again. Whether the holds sweep has run before a later event must not change the books
(SPEC §2; README "Requests before the sweep"). These tests fail on the code of issue 7's fix.
"""

from scenarios.kit import CUSTOMER, Books, fail, pay, rome, transfer


def test_a_failure_after_the_hold_lapsed_finds_a_new_order_before_the_sweep_too(
    ledger: Books,
) -> None:
    """Handed as `cases/attack7/failure_after_a_lapsed_hold_before_the_sweep`. With the
    holds sweep run on 2 May the failure of 3 May is parked and the 5.00 is `hold_lapsed`;
    without it, seen: the hold is released as `activation_failed`, the order marked
    failed, and REQ-2 of 4 May refused `order_failed`."""
    ledger.replay_case("attack7/failure_after_a_lapsed_hold_before_the_sweep")

    returned = ledger.data("payment.unmatched")[0]  # the first word on the 5.00
    assert (returned["event_id"], returned["reason"]) == ("evt-4", "hold_lapsed")
    assert [each["reason"] for each in ledger.data("request.rejected")] != ["order_failed"]


def test_a_transfer_dated_before_the_card_payment_is_judged_first_whatever_the_arrival(
    ledger: Books,
) -> None:
    """Transfer onto K1 on 1 April, card payment of K1 on 2 April. In time order the
    credit pays K1 and the card payment is kept for ops (`order_funded_with_credit`);
    delivered the other way round, seen: the card pays and the request is refused
    `already_funded`. One order number, two different books."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 3, 1)))
    ledger.record(fail("MI0001", rome(2025, 3, 2)))

    ledger.record(pay("K1", CUSTOMER, "10.00", rome(2025, 4, 2)))
    ledger.record(transfer("R1", CUSTOMER, "K1", "10.00", rome(2025, 4, 1)))

    assert ledger.only("credit.applied")["order_id"] == "K1"
    assert ledger.only("event.rejected")["reason"] == "order_funded_with_credit"
