"""Refusals and statuses say what actually happened.

An unknown credit is not "no credit"; a credit held whole is held, not missing; money
returned because an order failed is not a lapsed hold; a credit partly used and partly
refunded is both. A customer's mistake in a request is told to the customer
(`request.rejected`), not dead-lettered as a broken event.
"""

from scenarios.kit import CUSTOMER, Books, fail, pay, refund, rome, topup, transfer

from ledger.service import Recorded


def _credit(ledger: Books) -> None:
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2026, 1, 10)))
    ledger.record(fail("MI0001", rome(2026, 1, 11)))


def test_an_unknown_credit_id_is_refused_as_unknown(ledger: Books) -> None:
    """Credit is available, but the request names one that does not exist."""
    _credit(ledger)

    ledger.record(
        transfer("R1", CUSTOMER, "MI0100", "10.00", rome(2026, 2, 1), credit_ids=["CR-NOPE"])
    )

    rejected = ledger.only("request.rejected")
    assert rejected["reason"] == "unknown_credit"
    assert "CR-NOPE" in rejected["message"]


def test_a_fully_held_credit_is_refused_as_held(ledger: Books) -> None:
    """All of it is held for MI0100's top-up: refund and transfer both say so."""
    _credit(ledger)
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 2, 1)))

    ledger.record(
        transfer("R2", CUSTOMER, "MI0101", "10.00", rome(2026, 2, 2)),
        refund("R3", CUSTOMER, rome(2026, 2, 3)),
    )

    assert [each["reason"] for each in ledger.data("request.rejected")] == ["credit_held"] * 2


def test_a_topup_returned_by_a_failure_says_activation_failed(ledger: Books) -> None:
    """The order failed while its top-up was awaited: its part payment is returned as
    `activation_failed`, not as a lapsed hold."""
    _credit(ledger)
    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2026, 2, 1)))
    ledger.record(topup("MI0100", CUSTOMER, "5.00", rome(2026, 2, 2)))

    ledger.record(fail("MI0100", rome(2026, 2, 3)))

    assert ledger.only("payment.unmatched")["reason"] == "activation_failed"


def test_a_spid_credit_used_and_refunded_shows_both(ledger: Books) -> None:
    """Part paid an order, the rest was refunded: status `used+refunded`."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 15), service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 20))
    ledger.record(
        transfer("R1", CUSTOMER, "MI0100", "9.90", rome(2026, 5, 1)),
        refund("R2", CUSTOMER, rome(2026, 6, 1)),
    )

    (line,) = ledger.balance(CUSTOMER, rome(2026, 6, 2)).credits
    assert (line.status, line.used, line.refunded) == ("used+refunded", 990, 4000)


def test_blank_document_names_are_the_customers_mistake(ledger: Books) -> None:
    """A documents request whose attachment has no name is refused, with a reason."""
    _credit(ledger)

    outcome = ledger.record(
        transfer(
            "R1",
            CUSTOMER,
            "MI0100",
            "10.00",
            rome(2026, 2, 1),
            channel="documents",
            documents=["  "],
        )
    )

    assert outcome == [Recorded.REFUSED]
    assert ledger.only("request.rejected")["reason"] == "blank_document"
    assert ledger.data("event.rejected") == []


def test_an_empty_credit_list_is_the_customers_mistake(ledger: Books) -> None:
    """`credit_ids: []` names nothing to use: refused, with a reason; nothing moves."""
    _credit(ledger)

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "10.00", rome(2026, 2, 1), credit_ids=[]))

    assert ledger.only("request.rejected")["reason"] == "no_credit_named"
    assert ledger.credit("CR-MI0001")["available"] == 3000
