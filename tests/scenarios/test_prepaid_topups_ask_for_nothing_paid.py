"""Pre-paid top-ups ask for nothing already paid: one request, one `topup.required` at
most, for what is still due after every top-up paid before it (R6, R8)."""

import pytest
from scenarios.kit import CUSTOMER, Books, fail, pay, rome, topup, transfer

from ledger.books import Account

ASKED = rome(2025, 4, 1)


@pytest.fixture
def thirty_of_credit(ledger: Books) -> Books:
    """CR-MI0001: 30.00; a 50.00 order leaves 20.00 due."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 3, 1)))
    ledger.record(fail("MI0001", rome(2025, 3, 2)))
    return ledger


def test_two_prepaid_topups_cover_the_difference_handed_case(ledger: Books) -> None:
    """F2: 10.00 + 10.00 paid before the request cover its 20.00: funded at once, each
    top-up matched, and no demand for money already paid."""
    ledger.replay_case("integrity/F2_two_prepaid_topups_spurious_topup_required")

    assert ledger.data("topup.required") == []
    funded = ledger.only("order.funded")
    assert (funded["applied"], funded["paid"]) == ("30.00", "20.00")
    assert [each["event_id"] for each in ledger.data("payment.matched")] == ["evt-3", "evt-4"]
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 0


def test_prepaid_topups_short_of_the_difference_ask_once_for_the_rest(
    thirty_of_credit: Books,
) -> None:
    """5.00 + 5.00 paid before a 20.00 difference: one `topup.required`, for 10.00."""
    ledger = thirty_of_credit
    ledger.record(
        topup("MI0002", CUSTOMER, "5.00", rome(2025, 3, 20)),
        topup("MI0002", CUSTOMER, "5.00", rome(2025, 3, 21)),
    )

    ledger.record(transfer("R1", CUSTOMER, "MI0002", "50.00", ASKED))

    assert ledger.only("topup.required")["amount_due"] == "10.00"
    assert len(ledger.data("payment.matched")) == 2
    ledger.record(topup("MI0002", CUSTOMER, "10.00", rome(2025, 4, 2)))
    assert ledger.only("order.funded")["paid"] == "20.00"
    assert len(ledger.data("topup.required")) == 1


def test_prepaid_topups_beyond_the_difference_fund_it_and_report_the_excess(
    thirty_of_credit: Books,
) -> None:
    """15.00 + 15.00 against 20.00 due: funded, 5.00 of the second top-up is the excess."""
    ledger = thirty_of_credit
    ledger.record(
        topup("MI0002", CUSTOMER, "15.00", rome(2025, 3, 20)),
        topup("MI0002", CUSTOMER, "15.00", rome(2025, 3, 21)),
    )

    ledger.record(transfer("R1", CUSTOMER, "MI0002", "50.00", ASKED))

    assert ledger.data("topup.required") == []
    assert ledger.only("order.funded")["paid"] == "20.00"
    overpaid = [each for each in ledger.data("payment.unmatched") if each["reason"] == "overpaid"]
    assert [each["amount"] for each in overpaid] == ["10.00"]
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 1000


def test_a_single_prepaid_topup_covering_the_difference_asks_for_nothing(
    thirty_of_credit: Books,
) -> None:
    """One top-up of exactly the difference, paid before: funded, no demand sent."""
    ledger = thirty_of_credit
    ledger.record(topup("MI0002", CUSTOMER, "20.00", rome(2025, 3, 20)))

    ledger.record(transfer("R1", CUSTOMER, "MI0002", "50.00", ASKED))

    assert ledger.data("topup.required") == []
    assert ledger.only("payment.matched")["amount"] == "20.00"
    assert ledger.only("order.funded")["paid"] == "20.00"
