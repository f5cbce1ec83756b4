"""R7: a request comes through the online form or the alternative procedure with
attached documents, which must name at least one document; both apply the same rules."""

from typing import Any

import pytest
from scenarios.kit import CUSTOMER, Books, fail, pay, refund, rome, transfer

ASKED = rome(2026, 6, 1)


@pytest.fixture
def with_credit(ledger: Books) -> Books:
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)), fail("MI0001", rome(2026, 1, 11))
    )
    return ledger


def test_documents_channel_without_documents_is_refused(with_credit: Books) -> None:
    """missing_documents, and the credit is untouched."""
    ledger = with_credit

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", ASKED, channel="documents"))

    rejected = ledger.only("request.rejected")
    assert (rejected["request_id"], rejected["reason"]) == ("R1", "missing_documents")
    assert ledger.available(CUSTOMER, ASKED) == 10000


def test_an_empty_document_list_is_no_documents(with_credit: Books) -> None:
    """`documents: []` names no document: refused the same way."""
    ledger = with_credit

    ledger.record(
        transfer("R1", CUSTOMER, "MI0100", "50.00", ASKED, channel="documents", documents=[])
    )

    assert ledger.only("request.rejected")["reason"] == "missing_documents"


def test_a_refund_through_documents_needs_documents_too(ledger: Books) -> None:
    """The rule is about the channel, whatever the action."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 10), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 10))

    ledger.record(refund("R1", CUSTOMER, ASKED, channel="documents"))

    assert ledger.only("request.rejected")["reason"] == "missing_documents"
    assert ledger.data("refund.requested") == []


ONLINE, BY_POST = "1111111@aruba.it", "2222222@aruba.it"


def _outcome(ledger: Books, customer: str) -> list[tuple[str, dict[str, Any]]]:
    """What the customer was told, less what names the customer, request or order."""
    personal = {
        "customer_id",
        "request_id",
        "order_id",
        "from_credits",
        "message",
        "payment_reference",
    }
    return [
        (note.type, {key: value for key, value in note.data.items() if key not in personal})
        for note in ledger.notifications("credit.applied", "topup.required", "request.rejected")
        if note.data["customer_id"] == customer
    ]


@pytest.mark.parametrize(
    ("amount", "same_order"),
    [("60.00", False), ("150.00", False), ("50.00", True)],
    ids=["covered", "held", "same_order"],
)
def test_both_channels_reach_the_same_outcome(ledger: Books, amount: str, same_order: bool) -> None:
    """Two customers with the same credit ask the same thing, one through the online form
    and one through the documents procedure: covered, held or refused alike."""
    for customer, suffix in ((ONLINE, "A"), (BY_POST, "B")):
        ledger.record(
            pay(f"MI0001{suffix}", customer, "100.00", rome(2026, 1, 10)),
            fail(f"MI0001{suffix}", rome(2026, 1, 11)),
        )

    ledger.record(
        transfer("R1", ONLINE, "MI0001A" if same_order else "MI0100A", amount, ASKED),
        transfer(
            "R2",
            BY_POST,
            "MI0001B" if same_order else "MI0100B",
            amount,
            ASKED,
            channel="documents",
            documents=["modulo.pdf", "documento.pdf"],
        ),
    )

    online = _outcome(ledger, ONLINE)
    assert len(online) == 1
    assert _outcome(ledger, BY_POST) == online
    assert ledger.available(ONLINE, ASKED) == ledger.available(BY_POST, ASKED)
