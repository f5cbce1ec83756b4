"""A correction's entries are written in an order that never leaves an account below
zero between two of them (R11, replayed in the order written).

Found by the wide late-delivery property (CI, 30 November 2026): reversing a later
payment's ``order_paid`` before booking the earlier payment that replaces it left
``order_prepayments`` at -10.00 for one entry. The opposite fixed order fails the
other way round (a use of credit booked before the use it replaces is reversed), so
both are pinned here.
"""

from datetime import timedelta

from scenarios.kit import (
    CUSTOMER,
    Books,
    assert_books_balance,
    fail,
    pay,
    refund,
    rome,
    transfer,
)

from ledger.books import Account


def test_an_earlier_payment_arriving_after_the_later_one_failed_into_credit(
    ledger: Books,
) -> None:
    """MI0007 is paid at 05:31 and fails at once (credit 10.00); a payment of the same
    order at 04:31 arrives days later. The 04:31 payment paid the order; the 05:31 one
    is a duplicate. Written in order, no account dips below zero."""
    later = rome(2026, 1, 5, 5, 31)
    ledger.record(pay("MI0007", CUSTOMER, "10.00", later), fail("MI0007", later))

    ledger.record(pay("MI0007", CUSTOMER, "10.00", later - timedelta(hours=1)))

    assert ledger.credit("CR-MI0007")["available"] == 1000
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 1000
    assert_books_balance(ledger.engine)


def test_a_late_transfer_taking_the_credit_a_later_transfer_had_spent(ledger: Books) -> None:
    """Variant, the other way round: CR-MI0001 (30.00) pays MI0200 on 10 February; a
    transfer dated the 9th onto MI0100 comes late and takes it all. The use for MI0200
    must be reversed before the use for MI0100 is booked, or ``credit_available``
    would stand at -30.00 between the two."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))
    ledger.record(transfer("R2", CUSTOMER, "MI0200", "30.00", rome(2026, 2, 10)))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "30.00", rome(2026, 2, 9)))

    applied = ledger.standing("credit.applied")
    assert [each["order_id"] for each in applied] == ["MI0100"]
    assert ledger.credit("CR-MI0001")["used"] == 3000
    assert_books_balance(ledger.engine)


def test_a_late_failure_whose_credit_pays_what_a_top_up_had_paid(ledger: Books) -> None:
    """Variant with three entries moving: MI0001 fails late (dated before a transfer
    that found no credit and asked for a top-up, then got it). The derivation re-books
    the transfer with credit; the order of writes keeps every account whole."""
    ledger.record(pay("MI0001", CUSTOMER, "20.00", rome(2026, 3, 1)))
    ledger.record(transfer("R3", CUSTOMER, "MI0300", "20.00", rome(2026, 3, 5)))
    ledger.record(
        pay("MI0300", CUSTOMER, "20.00", rome(2026, 3, 6), reference="integrazione MI0300")
    )

    ledger.record(fail("MI0001", rome(2026, 3, 2)))

    assert ledger.credit("CR-MI0001")["used"] == 2000
    assert_books_balance(ledger.engine)


def test_a_late_transfer_whose_order_failed_before_the_credit_was_refunded(
    ledger: Books,
) -> None:
    """Rewinding: CR-SP0001 (49.90, refundable) is refunded on 5 May; the failure of
    MI0100 (3 May) came before anything said MI0100 was paid with credit. The
    transfer of 1 May onto MI0100 arrives last: the credit paid MI0100, came back at
    its failure, then was refunded. The refund stays as written, and no order of the
    fewest changes exists (the use cannot follow the refund, the give-back cannot
    precede the use): the correction rewinds from 1 May and every account stays whole."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 10, 9, 30), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 10, 9, 30))
    ledger.record(fail("MI0100", rome(2026, 5, 3)))
    ledger.record(refund("R1", CUSTOMER, rome(2026, 5, 5)))

    ledger.record(transfer("R2", CUSTOMER, "MI0100", "49.90", rome(2026, 5, 1)))

    assert ledger.standing("refund.requested")[0]["amount"] == "49.90"
    assert [each["order_id"] for each in ledger.standing("credit.applied")] == ["MI0100"]
    credit = ledger.credit("CR-SP0001")
    assert (credit["refunded"], credit["used"], credit["available"]) == (4990, 0, 0)
    assert_books_balance(ledger.engine)
