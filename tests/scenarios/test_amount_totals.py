"""Totals over several credits of the largest amount: every path that adds amounts up
(a transfer's credit left, a refund, each sweep, a scheduled run, the finance reports,
a balance) goes through, and says the exact sum, though it is above the largest amount
one event may carry (``MAX_AMOUNT``, 999,999,999,999.99). Variants of
``test_attack9_amount_totals.py``."""

from __future__ import annotations

from datetime import date

import pytest
from scenarios.kit import ROME, Books, fail, pay, refund, rome, transfer
from sqlalchemy import select

from ledger.money import decimal_to_cents
from ledger.reports import breakage, liability
from ledger.service import Recorded
from ledger.store import schema
from messages.amounts import CENT, MAX_AMOUNT

pytestmark = pytest.mark.reliability

CUSTOMER = "1234567@aruba.it"
OTHER = "7654321@aruba.it"
LARGEST = f"{MAX_AMOUNT:f}"
TWICE = f"{2 * MAX_AMOUNT:f}"  # 1999999999999.98
MAX_CENTS = decimal_to_cents(MAX_AMOUNT)
PAID, FAILED = rome(2026, 1, 10), rome(2026, 1, 11)


def largest_credits(ledger: Books, *orders: str, customer: str = CUSTOMER) -> None:
    for order in orders:
        ledger.record(pay(order, customer, LARGEST, PAID), fail(order, FAILED))


def test_a_refund_of_two_largest_refundable_credits_is_their_sum(ledger: Books) -> None:
    """Two SPID orders of the largest amount time out: the sweep reports the sum of
    both cancellations, and a refund of both credits is one `refund.requested` of it."""
    for order in ("MI0001", "MI0002"):
        ledger.record(pay(order, CUSTOMER, LARGEST, PAID, service="spid"))

    ledger.sweep("spid_timeout", rome(2026, 4, 11))
    recorded = ledger.record(refund("REQ-1", CUSTOMER, rome(2026, 4, 12)))

    (completed,) = ledger.data("sweep.completed")
    assert completed["amounts"] == {"cancelled": TWICE}
    assert recorded == [Recorded.APPLIED]
    assert ledger.only("refund.requested")["amount"] == TWICE


def test_the_credit_left_after_a_transfer_may_exceed_the_largest_amount(ledger: Books) -> None:
    """Three largest credits, one cent spent: what is left is told to the cent."""
    largest_credits(ledger, "MI0001", "MI0002", "MI0003")

    ledger.record(transfer("REQ-1", CUSTOMER, "MI0009", "0.01", rome(2026, 1, 12)))

    assert ledger.only("credit.applied")["available_after"] == f"{3 * MAX_AMOUNT - CENT:f}"


def test_a_holds_sweep_releasing_two_large_holds_reports_their_sum(ledger: Books) -> None:
    """Two customers each hold a credit one cent short of the largest for an order of
    the largest amount and never top up: the holds sweep releases both, and says so."""
    short = f"{MAX_AMOUNT - CENT:f}"
    for customer, order, new_order in ((CUSTOMER, "MI0001", "MI0101"), (OTHER, "MI0002", "MI0102")):
        ledger.record(
            pay(order, customer, short, PAID),
            fail(order, FAILED),
            transfer(f"REQ-{order}", customer, new_order, LARGEST, rome(2026, 1, 12)),
        )

    ledger.sweep("holds", rome(2026, 3, 1))

    assert [each["released"] for each in ledger.data("hold.released")] == [short, short]
    (completed,) = ledger.data("sweep.completed")
    assert completed["amounts"] == {"released": f"{2 * (MAX_AMOUNT - CENT):f}"}


def test_a_scheduled_expiry_run_cut_in_chunks_adds_up_two_largest_credits(ledger: Books) -> None:
    """A run the scheduler would send, one credit per chunk: the run completes, its
    totals kept on the run row and told in `sweep.completed`."""
    largest_credits(ledger, "MI0001", "MI0002")
    runner = ledger.ledger
    runner.sweep_chunk_size = 1

    chunks = runner.start_sweep_run("expiry", date(2027, 1, 11), rome(2027, 1, 11, 4, 30))
    settled = [runner.settle_sweep_chunk("expiry", date(2027, 1, 11), each) for each in chunks]

    with ledger.engine.connect() as connection:
        run = connection.execute(select(schema.sweep_runs)).one()
    assert len(chunks) >= 2
    assert [each.run_completed for each in settled] == [False] * (len(chunks) - 1) + [True]
    assert (run.status, run.cents) == ("completed", {"forfeited": 2 * MAX_CENTS})
    (completed,) = ledger.data("sweep.completed")
    assert completed["amounts"] == {"forfeited": TWICE}


def test_reports_and_a_balance_over_two_largest_credits_reconcile(ledger: Books) -> None:
    """Liability before the expiry, breakage after it, and the customer's balance: each
    is the sum of both credits, and each report reconciles with the journal."""
    largest_credits(ledger, "MI0001", "MI0002")
    twice = 2 * MAX_CENTS

    owed = liability(ledger.engine, rome(2026, 6, 1), ROME)
    available = ledger.available(CUSTOMER, rome(2026, 6, 1))
    ledger.sweep("expiry", rome(2027, 1, 11))
    forfeited = breakage(ledger.engine, rome(2027, 1, 1), rome(2027, 2, 1))

    assert (owed.available_cents, owed.reconciled) == (twice, True)
    assert available == twice
    assert (forfeited.total_cents, forfeited.reconciled) == (twice, True)


def test_a_transfer_of_the_largest_amount_drawn_from_two_credits_says_what_is_left(
    ledger: Books,
) -> None:
    """Three credits one cent short of the largest; an order of the largest amount takes
    all of the soonest-expiring credit and one cent of the next: `applied` is one
    order's amount, `available_after` the total left, past the largest."""
    short = MAX_AMOUNT - CENT
    for day, order in ((10, "MI0001"), (11, "MI0002"), (12, "MI0003")):
        ledger.record(
            pay(order, CUSTOMER, f"{short:f}", rome(2026, 1, day)),
            fail(order, rome(2026, 1, day + 5)),
        )

    recorded = ledger.record(transfer("REQ-1", CUSTOMER, "MI0009", LARGEST, rome(2026, 2, 1)))

    applied = ledger.only("credit.applied")
    assert recorded == [Recorded.APPLIED]
    assert applied["applied"] == LARGEST
    assert applied["available_after"] == f"{3 * short - MAX_AMOUNT:f}"
    assert [each["amount"] for each in applied["from_credits"]] == [f"{short:f}", "0.01"]
