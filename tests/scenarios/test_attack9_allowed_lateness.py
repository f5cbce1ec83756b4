"""attack9: ``RESIDUO_POLICY__ALLOWED_LATENESS_DAYS`` is bounded below only. A large
value (an operator's "never too late", 1,000,000 days) is accepted at start-up, and
then every event that arrives behind its subject's frontier fails with
``OverflowError: date value out of range`` (``ledger.timeline`` subtracts it
from the watermark): each such event becomes a processing error and is dead-lettered.

Expected: refused at start-up like the other policy numbers whose derived dates do
not exist (``Settings._derived_dates_representable``), or honoured.
"""

import pytest
from pydantic import ValidationError
from scenarios.kit import Books, pay, rome

from ledger.policy import Policy
from ledger.service import Recorded
from residuo.settings import Settings

pytestmark = pytest.mark.reliability


def test_attack9_a_huge_allowed_lateness_is_refused_at_start_up_or_honoured(
    ledger: Books,
) -> None:
    policy = Policy(allowed_lateness_days=1_000_000)
    try:
        Settings(policy=policy)
    except ValidationError:
        return  # refused where the operator sees it: fine
    books = ledger.under(policy)

    recorded = books.record(
        pay("MI0002", "1234567@aruba.it", "10.00", rome(2026, 1, 10)),
        pay("MI0001", "1234567@aruba.it", "10.00", rome(2026, 1, 9)),
    )

    assert recorded == [Recorded.APPLIED, Recorded.APPLIED]
