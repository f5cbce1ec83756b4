"""attack9: ``credit.requested``'s ``credit_ids`` has no bound on its length. A request
naming 70,000 credits (here the customer's one credit, repeated: 560 kB, well within
the 1 MiB body limit) is valid on the wire and applied on SQLite, but on PostgreSQL
its query carries one parameter per id and psycopg refuses it client-side
(``OperationalError: number of parameters must be between 0 and 65535``). Having no
SQLSTATE, that error is classified *transient* (``workers.failures``): the
customer's request is retried for hours as if the database were down, then
dead-lettered as ``retries_exhausted``.

Expected: refused up front (a bounded list), or judged on every backend alike.

(Corrected by the ingress fix: the test as first written only accepted "judged",
although its expectation allows "refused up front", which is what residuo now does:
``credit_ids`` names at most ``limits.CREDIT_IDS_MAX_COUNT`` credits. The longest
list allowed is judged on every backend.)
"""

import pytest
from scenarios.kit import Books, fail, pay, rome, transfer

from ledger.service import Recorded
from messages import InvalidEvent
from messages.limits import CREDIT_IDS_MAX_COUNT

pytestmark = pytest.mark.reliability

CUSTOMER = "1234567@aruba.it"


def test_attack9_a_request_naming_seventy_thousand_credits_is_refused_up_front() -> None:
    named = ["CR-MI0001"] * 70_000

    with pytest.raises(InvalidEvent) as refused:
        transfer("REQ-1", CUSTOMER, "MI0002", "1.00", rome(2026, 1, 12), credit_ids=named)

    assert refused.value.reason == "bad_schema"
    assert refused.value.detail.startswith("data.credit_ids: ")
    assert f"at most {CREDIT_IDS_MAX_COUNT} items" in refused.value.detail


def test_attack9_a_request_naming_the_most_credits_allowed_is_judged(ledger: Books) -> None:
    ledger.record(
        pay("MI0001", CUSTOMER, "10.00", rome(2026, 1, 10)),
        fail("MI0001", rome(2026, 1, 11)),
    )
    named = ["CR-MI0001"] * CREDIT_IDS_MAX_COUNT

    recorded = ledger.record(
        transfer("REQ-1", CUSTOMER, "MI0002", "1.00", rome(2026, 1, 12), credit_ids=named)
    )

    assert recorded == [Recorded.APPLIED]
