"""attack9: every amount is accepted up to ``MAX_AMOUNT`` (999,999,999,999.99), but
totals the ledger computes from several such amounts are typed as wire amounts too
(``credit.applied``'s ``available_after``, ``sweep.completed``'s ``amounts``), so
their notification fails validation and the whole transaction is refused as a
processing error: a valid transfer is dead-lettered, and the expiry sweep of that
day can never complete.

Expected: what the validator lets in, the books (and their notifications) can hold.
"""

import pytest
from scenarios.kit import Books, fail, pay, rome, transfer

from ledger.service import Recorded
from messages.amounts import MAX_AMOUNT

pytestmark = pytest.mark.reliability

CUSTOMER = "1234567@aruba.it"
LARGEST = f"{MAX_AMOUNT:f}"


def two_largest_credits(ledger: Books) -> None:
    paid, failed = rome(2026, 1, 10), rome(2026, 1, 11)
    ledger.record(
        pay("MI0001", CUSTOMER, LARGEST, paid),
        pay("MI0002", CUSTOMER, LARGEST, paid),
        fail("MI0001", failed),
        fail("MI0002", failed),
    )


def test_attack9_a_transfer_from_a_customer_holding_two_largest_credits_is_applied(
    ledger: Books,
) -> None:
    two_largest_credits(ledger)

    recorded = ledger.record(transfer("REQ-1", CUSTOMER, "MI0003", "1.00", rome(2026, 1, 12)))

    assert recorded == [Recorded.APPLIED]
    assert ledger.only("credit.applied")["order_id"] == "MI0003"


def test_attack9_the_expiry_sweep_over_two_largest_credits_completes(ledger: Books) -> None:
    two_largest_credits(ledger)

    ledger.sweep("expiry", rome(2027, 6, 1, 4, 30))

    assert len(ledger.data("credit.expired")) == 2
