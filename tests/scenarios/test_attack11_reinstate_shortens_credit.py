"""attack11: ``residuo adjust reinstate --until`` earlier than the credit's expiry
forfeits credit the customer never lost.

SPEC R2: credit may be used until ``paid_at`` + 12 months. docs/late-evidence.md:
``reinstate`` moves forfeited credit back to available ("forfeited → available, a new
expiry if given"), and ``extend`` is refused when its date is not later. A
reinstatement gives back; it must not take away. Here CR-MI0001 (30.00, expiring
5 June 2026) has 10.00 voided, then those 10.00 reinstated with ``--until`` 10 July
2025 (an operator meaning "these 10.00 are good for a week"). Today the whole credit's
expiry moves to 10 July 2025, and the next sweep forfeits all 30.00, eleven months
early: the 20.00 no adjustment touched are lost.

Expected: the 20.00 the customer always had keep their expiry of 5 June 2026 (the
reinstatement is refused as shortening the credit, or applies its date to no more
than what it reinstates).
"""

import pytest
from scenarios.kit import CUSTOMER, Books, fail, pay, rome

from ledger.errors import AdjustmentRefusedError


def test_a_reinstatement_does_not_shorten_the_rest_of_the_credit(ledger: Books) -> None:
    ledger.record(
        pay("MI0001", CUSTOMER, "30.00", rome(2025, 6, 5)), fail("MI0001", rome(2025, 6, 6))
    )
    ledger.adjust("void", CUSTOMER, rome(2025, 7, 1), credit_id="CR-MI0001", amount="10.00")
    with pytest.raises(AdjustmentRefusedError, match="never moves its expiry earlier"):
        ledger.adjust(
            "reinstate",
            CUSTOMER,
            rome(2025, 7, 2),
            credit_id="CR-MI0001",
            amount="10.00",
            until=rome(2025, 7, 10),
        )

    ledger.sweep("all", rome(2025, 7, 11))

    assert ledger.credit("CR-MI0001")["available"] >= 2000
    assert ledger.available(CUSTOMER, rome(2025, 12, 1)) >= 2000
