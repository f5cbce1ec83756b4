"""Ids at the longest the wire accepts go through every rule and every table, on SQLite
and PostgreSQL alike: what the validator lets in, the books can hold (``messages.limits``).

Before the limits had one source, a 62-character order was paid and then its
``activation.failed`` could never create ``CR-<order>`` (67 characters in a 64-character
column): the credit was lost after hours of retries.
"""

import pytest
from scenarios.kit import OTHER_CUSTOMER, Books, fail, pay, rome, topup, transfer

from ledger.errors import AdjustmentRefusedError
from ledger.service import Ledger, Recorded
from messages import limits

pytestmark = pytest.mark.reliability

ORDER = "M" * limits.ORDER_ID_MAX_LENGTH
NEW_ORDER = "N" * limits.ORDER_ID_MAX_LENGTH
SPID_ORDER = "S" * limits.ORDER_ID_MAX_LENGTH
CUSTOMER = "c" * (limits.CUSTOMER_ID_MAX_LENGTH - len("@aruba.it")) + "@aruba.it"
REQUEST = "R" * limits.REQUEST_ID_MAX_LENGTH
SERVICE = "s" * limits.SERVICE_MAX_LENGTH


def event_id(tag: str) -> str:
    return tag + "e" * (limits.EVENT_ID_MAX_LENGTH - len(tag))


def test_an_order_of_62_characters_is_paid_and_its_failure_grants_its_credit(
    ledger: Books,
) -> None:
    """The case the campaign found: the failure of a 62-character order is credited."""
    order = "X" * 62
    paid, failed = rome(2026, 1, 10), rome(2026, 1, 11)

    recorded = ledger.record(pay(order, CUSTOMER, "62.00", paid), fail(order, failed))

    assert recorded == [Recorded.APPLIED, Recorded.APPLIED]
    assert ledger.only("credit.granted")["credit_id"] == f"CR-{order}"
    assert ledger.available(CUSTOMER, failed) == 6200


def test_the_longest_ids_go_through_every_rule_and_every_sweep(ledger: Books) -> None:
    """Credit from a failure, a transfer held for a top-up quoting the longest order,
    the top-up, a SPID cancellation, both reminders and a chunked expiry run: all
    applied with every id at its maximum length."""
    paid = rome(2026, 1, 10)
    events = [
        pay(ORDER, CUSTOMER, "100.00", paid, service=SERVICE, id=event_id("pay-")),
        fail(ORDER, rome(2026, 1, 11), id=event_id("fail-")),
        transfer(REQUEST, CUSTOMER, NEW_ORDER, "150.00", rome(2026, 2, 1), id=event_id("req-")),
        topup(NEW_ORDER, CUSTOMER, "50.00", rome(2026, 2, 3), id=event_id("top-")),
        pay(SPID_ORDER, CUSTOMER, "49.90", paid, service="spid", id=event_id("spid-")),
    ]
    one_row_chunks = Ledger(ledger.engine, ledger.policy, sweep_chunk_size=1)

    recorded = ledger.record(*events)
    ledger.sweep("reminders", rome(2026, 3, 15, 4, 30))
    ledger.sweep("spid_timeout", rome(2026, 4, 15, 4, 30))
    ledger.sweep("reminders", rome(2026, 12, 15, 4, 30))
    expiry_day = rome(2027, 6, 1, 4, 30)
    chunks = one_row_chunks.start_sweep_run("expiry", expiry_day.date(), expiry_day)
    settled = [one_row_chunks.settle_sweep_chunk("expiry", expiry_day.date(), n) for n in chunks]

    assert recorded == [Recorded.APPLIED] * 5
    assert ledger.only("order.funded")["order_id"] == NEW_ORDER
    assert ledger.only("spid.deadline_approaching")["order_id"] == SPID_ORDER
    assert ledger.only("spid.order_cancelled")["credit_id"] == f"CR-{SPID_ORDER}"
    assert ledger.only("credit.expiring_soon")["credit_id"] == f"CR-{SPID_ORDER}"
    assert len(chunks) > 1
    assert settled[-1].run_completed
    assert ledger.only("credit.expired")["credit_id"] == f"CR-{SPID_ORDER}"


def test_an_adjustment_naming_the_longest_credit_id_without_its_prefix_is_refused(
    ledger: Books,
) -> None:
    """A credit id is ``CR-<order>``; one without the prefix (an operator's typo) names,
    as the ledger reads it, an order as long as a credit id, three characters longer
    than any order. Whose first 64 characters are another customer's order, it is
    refused like any credit the customer lacks, on PostgreSQL too, where the owners
    were read once more through an array of order numbers cut to 64 characters: that
    read found the other customer, the first did not, and the adjustment started
    again until it failed with the ledger's internal ``_SubjectsChangedError``."""
    ledger.record(pay(ORDER, OTHER_CUSTOMER, "10.00", rome(2026, 1, 10)))
    typo = ORDER + "X" * (limits.CREDIT_ID_MAX_LENGTH - limits.ORDER_ID_MAX_LENGTH)

    with pytest.raises(AdjustmentRefusedError, match="has no credit"):
        ledger.adjust("void", CUSTOMER, rome(2026, 1, 12), credit_id=typo, amount="1.00")
