"""Variants of attack8's findings on late evidence: the same kinds of fault, other paths.

Each names the kind it varies: adjustments applied again, notifications told again,
the watermark and the clock, sweeps settled at the instants they ran, and what a
correction leaves parked.
"""

from datetime import datetime

from scenarios.kit import (
    CUSTOMER,
    OTHER_CUSTOMER,
    Books,
    activate,
    assert_books_balance,
    fail,
    pay,
    refund,
    rome,
    transfer,
)

from ledger.books import Account
from ledger.policy import Policy


def test_a_void_by_hand_whose_credit_a_late_request_spent_whole_is_refused_and_reported(
    ledger: Books,
) -> None:
    """Adjustments applied again: ops void 20.00 of CR-MI0001 (30.00) on 10 February; a
    transfer of 30.00 dated the 9th comes late. Nothing is left to void: the void is
    refused in the derivation, its ``credit.adjusted`` voided, and ops told why."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))
    ledger.record(pay("MI0002", CUSTOMER, "1.00", rome(2026, 2, 10)))
    ledger.adjust(
        "void", CUSTOMER, rome(2026, 2, 10, 12), credit_id="CR-MI0001", amount="20.00", id="adj-v"
    )

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "30.00", rome(2026, 2, 9)))

    assert ledger.only("credit.applied")["applied"] == "30.00"
    assert ledger.standing("credit.adjusted") == []
    refused = [each for each in ledger.standing("event.rejected") if each["event_id"] == "adj-v"]
    assert [each["reason"] for each in refused] == ["amount_too_large"]
    credit = ledger.credit("CR-MI0001")
    assert (credit["used"], credit["forfeited"], credit["available"]) == (3000, 0, 0)
    assert_books_balance(ledger.engine)


def test_a_reinstatement_applied_again_takes_what_is_left_to_reinstate(ledger: Books) -> None:
    """Adjustments applied again, the other bucket: CR-MI0001 (30.00, 10.00 spent in
    June 2025) expires 10 January 2026 and the sweep forfeits 20.00; ops reinstate
    20.00 until June. A transfer of 15.00 dated 9 January comes late, so only 5.00 was
    forfeited: the reinstatement takes those 5.00."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 1, 10)))
    ledger.record(fail("MI0001", rome(2025, 1, 11)))
    ledger.record(transfer("R0", CUSTOMER, "MI0050", "10.00", rome(2025, 6, 1)))
    ledger.sweep("expiry", rome(2026, 1, 11, 4, 30))
    ledger.adjust(
        "reinstate",
        CUSTOMER,
        rome(2026, 1, 12),
        credit_id="CR-MI0001",
        amount="20.00",
        until=rome(2026, 6, 1),
    )

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "15.00", rome(2026, 1, 9)))

    adjusted = ledger.standing("credit.adjusted")
    assert [(each["action"], each["amount"]) for each in adjusted] == [("reinstated", "5.00")]
    credit = ledger.credit("CR-MI0001")
    assert (credit["used"], credit["available"], credit["forfeited"]) == (2500, 500, 0)
    assert_books_balance(ledger.engine)


def test_a_credit_expired_again_after_its_expiry_was_voided_is_told(ledger: Books) -> None:
    """Notifications told again: the sweep forfeits CR-MI0001. A late transfer dated
    before the expiry spends the credit (``credit.expired`` voided); then that
    transfer's order fails after the expiry, restoring credit that expired: it is
    forfeited, and the customer must be told it expired, under a new id."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 1, 10)))
    ledger.record(fail("MI0001", rome(2025, 1, 11)))
    ledger.sweep("expiry", rome(2026, 1, 11, 4, 30))
    ledger.record(pay("MI0900", CUSTOMER, "1.00", rome(2026, 1, 12)))
    expired_first = ledger.notifications("credit.expired")[0].id

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "30.00", rome(2026, 1, 9)))
    assert ledger.standing("credit.expired") == []
    ledger.record(fail("MI0100", rome(2026, 1, 13)))

    told = [note for note in ledger.notifications("credit.expired") if note.id != expired_first]
    assert [note.data["credit_id"] for note in told] == ["CR-MI0001"]
    assert [each["forfeited"] for each in ledger.standing("credit.expired")] == ["30.00"]
    assert ledger.credit("CR-MI0001")["forfeited"] == 3000


def test_the_watermark_reported_is_never_later_than_the_clock(ledger: Books) -> None:
    """The watermark and the clock: a payment dated 2062 does not take the watermark
    past the reading of the clock."""
    now = datetime.fromisoformat("2026-04-02T09:00:00+02:00")
    books = Books(ledger.engine, clock=lambda: now)
    books.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    books.record(pay("MI0900", OTHER_CUSTOMER, "5.00", rome(2062, 3, 31)))

    assert books.ledger.watermark() == now


def test_a_late_event_leaves_a_request_judged_before_a_lapsed_hold_was_swept(
    ledger: Books,
) -> None:
    """Sweeps at the instants they ran: R1 holds CR-MI0001 (30.00) for MI0100 until
    31 March. On 2 April, before any holds sweep ran after the lapse, R2 asks 10.00:
    in order, the lapsed hold was not yet released. The sweep of 3 April releases it.
    A payment of 1 April then comes late: R2 must be judged as it was, on 2 April."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 3, 1)))
    ledger.record(transfer("R2", CUSTOMER, "MI0200", "10.00", rome(2026, 4, 2)))
    ledger.sweep("holds", rome(2026, 4, 3, 4, 30))
    told = [(note.type, note.data) for note in ledger.notifications()]
    before = ledger.credit("CR-MI0001")

    ledger.record(pay("MI0003", CUSTOMER, "5.00", rome(2026, 4, 1)))

    assert ledger.data("request.reconsidered") == []
    assert [(note.type, note.data) for note in ledger.notifications()][: len(told)] == told
    assert ledger.credit("CR-MI0001") == before


def test_a_failed_order_a_correction_leaves_unpaid_is_reported(ledger: Books) -> None:
    """What a correction leaves parked, the other outcome: as the attack8 case, but
    MI0100's activation failed (a credit granted from it). A correction that takes its
    payment away parks the failure; ops hear of it."""
    ledger.record(pay("SP0001", CUSTOMER, "40.00", rome(2026, 1, 10), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 11, 4, 30))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", rome(2026, 4, 12)))
    failed = fail("MI0100", rome(2026, 4, 12, 12))
    ledger.record(failed)

    ledger.record(activate("SP0001", rome(2026, 4, 9)))

    unpaid = [
        each for each in ledger.standing("event.rejected") if each["reason"] == "order_unpaid"
    ]
    assert [each["event_id"] for each in unpaid] == [failed.id]
    assert ledger.account(CUSTOMER, Account.CREDIT_AVAILABLE) == 0
    assert_books_balance(ledger.engine)


def test_a_too_late_refund_is_booked_where_it_was_placed(ledger: Books) -> None:
    """Too late, what it spends booked at its position: the refund of the attack8 case
    under an allowed lateness of 7 days is booked at the horizon (23 May), not on
    25 April."""
    ledger = ledger.under(Policy(allowed_lateness_days=7))
    ledger.record(pay("SP0001", CUSTOMER, "40.00", rome(2026, 1, 10), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 11, 4, 30))
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "40.00", rome(2026, 4, 20)))
    ledger.record(fail("MI0100", rome(2026, 5, 1)))
    ledger.sweep("all", rome(2026, 5, 30, 4, 30))

    ledger.record(refund("RF1", CUSTOMER, rome(2026, 4, 25)))

    refunded = [line for line in ledger.journal() if line[0] == "refund_requested"]
    assert [effective_at for _, _, effective_at, _ in refunded] == [rome(2026, 5, 23, 4, 30)]
