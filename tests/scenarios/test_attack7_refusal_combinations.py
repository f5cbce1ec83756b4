"""Attack on issue 7, kind 6: refusal reasons when several reasons combine.

`credit_held` is given only when *every* credit is held. When the credit that could
serve the request is held and another credit, which cannot, is available, the customer
is told about the other one. And a blank credit id is a customer's mistake like a blank
document name. These tests fail on the code of issue 7's fix.
"""

from scenarios.kit import CUSTOMER, Books, fail, pay, rome, topup, transfer


def test_a_refund_while_the_refundable_credit_is_held_says_held(ledger: Books) -> None:
    """Handed as `cases/attack7/refund_while_the_refundable_credit_is_held`: CR-SP1 (SPID,
    refundable) wholly held for NEW1; CR-AF1 (not refundable) available. Seen:
    `not_refundable`, "This credit can be used for other services but cannot be refunded"."""
    ledger.replay_case("attack7/refund_while_the_refundable_credit_is_held")

    assert ledger.only("request.rejected")["reason"] == "credit_held"


def test_a_modification_while_the_credit_that_may_pay_it_is_held_says_held(
    ledger: Books,
) -> None:
    """CR-AF1 (may pay a modification) wholly held; CR-SP1 (SPID: purchase or renewal
    only) available. Seen: `purpose_not_allowed`, though the credit able to pay is held."""
    ledger.record(pay("AF1", CUSTOMER, "20.00", rome(2025, 1, 1)))
    ledger.record(fail("AF1", rome(2025, 1, 2)))
    ledger.record(transfer("R1", CUSTOMER, "NEW1", "100.00", rome(2025, 4, 1)))
    ledger.record(pay("SP1", CUSTOMER, "49.90", rome(2025, 1, 10), service="spid"))
    ledger.sweep("spid_timeout", rome(2025, 4, 11, 4, 30))

    ledger.record(
        transfer("R2", CUSTOMER, "NEW2", "10.00", rome(2025, 4, 12), purpose="modification")
    )

    assert ledger.only("request.rejected")["reason"] == "credit_held"


def test_a_blank_credit_id_is_told_to_the_customer_not_dead_lettered(ledger: Books) -> None:
    """`credit_ids: [""]` from the online form. Seen: `InvalidEvent` (bad_schema), so the
    request is dead-lettered and the customer hears nothing."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 3, 1)))
    ledger.record(fail("MI0001", rome(2025, 3, 2)))

    ledger.record(transfer("R1", CUSTOMER, "MI0002", "10.00", rome(2025, 4, 1), credit_ids=[""]))

    assert ledger.only("request.rejected")["request_id"] == "R1"


def test_a_topup_processed_after_the_sweep_released_its_hold_is_not_nothing_due(
    ledger: Books,
) -> None:
    """Paid on 20 April, within REQ-1's window, but processed after the holds sweep of
    2 May released the hold (README "Known limit"). Whatever is done with the money,
    the reason given must be true. Seen: `nothing_due`, "no credit transfer awaits a
    top-up for order K1", though one awaited it when the customer paid."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 3, 1)))
    ledger.record(fail("MI0001", rome(2025, 3, 2)))
    ledger.record(transfer("R1", CUSTOMER, "K1", "50.00", rome(2025, 4, 1)))
    ledger.sweep("holds", rome(2025, 5, 2, 4, 30))

    ledger.record(topup("K1", CUSTOMER, "20.00", rome(2025, 4, 20)))

    # The release on 1 May is within the allowed lateness of the watermark: the
    # payment in time funds the order, and the release is taken back.
    assert ledger.standing("payment.unmatched") == []
    assert ledger.only("order.funded")["order_id"] == "K1"
    assert ledger.only("hold.reinstated")["order_id"] == "K1"
