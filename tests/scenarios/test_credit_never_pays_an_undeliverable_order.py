"""Credit never pays an order that cannot be delivered, and what it pays keeps its R1.

A transfer onto an order is judged by the order lifecycle (``ledger.lifecycle``): a new
order number is funded; one already paid, failed or cancelled is refused with the
reason. Once a transfer is accepted, the order's activation outcome applies to it: a
failure gives back what paid it (R1), a completion takes it live.
"""

from pathlib import Path

import pytest
from scenarios.kit import CUSTOMER, Books, activate, fail, pay, rome, topup, transfer

from ledger.lifecycle import LIFECYCLE, Arrival, OrderState, Step
from ledger.service import Recorded

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def thirty_of_credit(ledger: Books) -> Books:
    """CR-MI0001: 30.00 available from 2026-01-11."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))
    return ledger


def test_credit_onto_a_cancelled_spid_order_handed_case(ledger: Books) -> None:
    """F4: a SPID order cancelled at its deadline can never be activated: a transfer onto
    it is refused, its later activation and failure too, and no credit is stranded."""
    ledger.replay_case("integrity/F4_credit_onto_cancelled_spid_order")

    assert ledger.only("request.rejected")["reason"] == "order_cancelled"
    assert [each["reason"] for each in ledger.data("event.rejected")] == ["order_cancelled"] * 2
    assert ledger.credit("CR-MI0002")["available"] == 2000
    assert ledger.data("credit.applied") == []


def test_credit_onto_a_failed_order_handed_case(ledger: Books) -> None:
    """F5: MI0002's card payment already became credit when it failed: the transfer onto
    it is refused and CR-MI0001's 20.00 stays available."""
    ledger.replay_case("integrity/F5_credit_onto_failed_order_then_fails")

    assert ledger.only("request.rejected")["reason"] == "same_order"
    assert ledger.credit("CR-MI0001")["available"] == 2000
    assert ledger.credit("CR-MI0002")["available"] == 2000


def test_credit_onto_an_order_whose_credit_funding_failed_is_refused(
    thirty_of_credit: Books,
) -> None:
    """MI0100 was paid with credit and failed: the credit came back; the number is done."""
    ledger = thirty_of_credit
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "10.00", rome(2026, 2, 1)))
    ledger.record(fail("MI0100", rome(2026, 2, 2)))

    ledger.record(transfer("R2", CUSTOMER, "MI0100", "10.00", rome(2026, 2, 3)))

    assert ledger.only("credit.restored")["restored"] == "10.00"
    assert ledger.only("request.rejected")["reason"] == "order_failed"
    assert ledger.credit("CR-MI0001")["available"] == 3000


@pytest.mark.parametrize("live", [False, True], ids=["awaiting_activation", "active"])
def test_credit_onto_an_order_paid_by_card_is_refused(thirty_of_credit: Books, live: bool) -> None:
    """Paid by card, live or not: paying it again with credit is refused."""
    ledger = thirty_of_credit
    ledger.record(pay("MI0100", CUSTOMER, "10.00", rome(2026, 2, 1)))
    if live:
        ledger.record(activate("MI0100", rome(2026, 2, 2)))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "10.00", rome(2026, 2, 3)))

    assert ledger.only("request.rejected")["reason"] == "already_funded"
    assert ledger.credit("CR-MI0001")["available"] == 3000


def test_credit_onto_an_order_awaiting_its_top_up_is_refused(thirty_of_credit: Books) -> None:
    """A hold already waits for MI0100's top-up: a second transfer onto it is refused."""
    ledger = thirty_of_credit
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 2, 1)))

    ledger.record(transfer("R2", CUSTOMER, "MI0100", "50.00", rome(2026, 2, 2)))

    assert ledger.only("request.rejected")["reason"] == "already_funded"


def test_an_activation_before_the_top_up_waits_for_it(thirty_of_credit: Books) -> None:
    """An order is not live before it is paid in full: its activation waits in the inbox
    and applies once the top-up funds it."""
    ledger = thirty_of_credit
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 2, 1)))

    assert ledger.record(activate("MI0100", rome(2026, 2, 2))) == [Recorded.PARKED]
    ledger.record(topup("MI0100", CUSTOMER, "20.00", rome(2026, 2, 3)))

    assert ledger.only("order.funded")["paid"] == "20.00"
    # Live: a failure reported now is ignored, and nothing is given back.
    assert ledger.record(fail("MI0100", rome(2026, 2, 4))) == [Recorded.REFUSED]
    assert ledger.only("event.rejected")["reason"] == "already_activated"
    assert ledger.credit("CR-MI0001")["used"] == 3000


def test_a_failure_before_the_top_up_releases_the_hold_at_once(thirty_of_credit: Books) -> None:
    """The order will not be delivered: the held credit is back at the failure, and the
    part already paid goes to ops as `activation_failed`, not as a lapsed hold."""
    ledger = thirty_of_credit
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 2, 1)))
    ledger.record(topup("MI0100", CUSTOMER, "5.00", rome(2026, 2, 2)))

    ledger.record(fail("MI0100", rome(2026, 2, 3)))

    assert ledger.only("hold.released")["released"] == "30.00"
    returned = ledger.only("payment.unmatched")
    assert (returned["amount"], returned["reason"]) == ("5.00", "activation_failed")
    assert ledger.credit("CR-MI0001")["available"] == 3000
    assert ledger.record(transfer("R2", CUSTOMER, "MI0100", "5.00", rome(2026, 2, 4))) == [
        Recorded.REFUSED
    ]
    assert ledger.data("request.rejected")[0]["reason"] == "order_failed"


def test_the_readme_shows_the_lifecycle_the_code_reads() -> None:
    """README's "Order lifecycle" table is ``ledger.lifecycle.LIFECYCLE``, cell for cell."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip(" `") for cell in line.strip().strip("|").split("|")]
        if len(cells) == len(Arrival) + 1 and cells[0] in {state.value for state in OrderState}:
            rows[cells[0]] = cells[1:]
    assert set(rows) == {state.value for state in OrderState}
    for state in OrderState:
        for arrival, shown in zip(Arrival, rows[state.value], strict=True):
            cell = LIFECYCLE[(state, arrival)]
            if cell.step is Step.ADVANCE:
                assert cell.to is not None
                assert shown.startswith(f"→ {cell.to.value}"), (state, arrival, shown)
            elif cell.step in (Step.PARK, Step.IGNORE):
                assert shown == cell.step.value, (state, arrival, shown)
            else:
                assert cell.reason is not None
                assert shown.startswith(f"{cell.step.value}: {cell.reason}"), (state, arrival)
                if cell.credit_reason:
                    assert cell.credit_reason in shown, (state, arrival, shown)
