"""Attack on issue 7, kind 1: one canonical form for an order number.

Upper-casing is the whole of the canonical form: an order number typed by the customer
in the online form with a space around it is another order, so the credit moved onto it
pays an order billing will never report on. And an order number with a NUL character
passes validation and then breaks PostgreSQL mid-transaction (a processing failure,
not a rejected event). These tests fail on the code of issue 7's fix.
"""

import pytest
from scenarios.kit import CUSTOMER, Books, fail, pay, rome, transfer

from messages import InvalidEvent


def test_an_order_number_typed_with_spaces_is_the_same_order(ledger: Books) -> None:
    """Transfer onto " mi0002 " (as typed), then billing's `activation.failed` for
    MI0002. Seen: the failure is parked for good and the 10.00 of credit stays used."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 3, 1)))
    ledger.record(fail("MI0001", rome(2025, 3, 2)))
    ledger.record(transfer("R1", CUSTOMER, " mi0002 ", "10.00", rome(2025, 4, 1)))

    ledger.record(fail("MI0002", rome(2025, 4, 2)))

    assert ledger.only("credit.restored")["order_id"] == "MI0002"


def test_an_order_number_with_a_control_character_is_refused_at_the_boundary() -> None:
    """Seen: accepted; on PostgreSQL the order's advisory lock then fails with
    "PostgreSQL text fields cannot contain NUL (0x00) bytes" (a processing failure)."""
    with pytest.raises(InvalidEvent):
        pay("MI\x000001", CUSTOMER, "30.00", rome(2025, 3, 1))
