"""attack12: a credit past its expiry, before the expiry sweep has run, can be neither
extended nor reinstated (R4, ``residuo adjust``).

docs and ``ledger/adjustments.py``: ``extend`` is refused on a credit already expired
because "R4 forfeited its remainder at the expiry whether or not a sweep has run, and
only a reinstatement brings it back" (the refusal says: "reinstate what was forfeited
with a new expiry (until)"). An operator who follows that advice between the expiry
(10 January 09:30) and the next expiry sweep (sweeps run daily, or late after a
scheduler outage) expects the reinstatement to bring the 30.00 back until 1 June.
Today it is refused too ("has 0.00 forfeited"): the remainder is forfeited by R4 for
``extend`` but not yet for ``reinstate``, so the operator has no way to restore the
credit until a sweep runs.
"""

from scenarios.kit import CUSTOMER, Books, fail, pay, rome


def test_the_reinstatement_the_extension_refusal_advises_is_applied(ledger: Books) -> None:
    """CR-MI0001, 30.00, expires 10 January 2026 09:30; no expiry sweep yet. On 10
    January at 15:00 the operator reinstates 30.00 until 1 June, as advised."""
    ledger.record(
        pay("MI0001", CUSTOMER, "30.00", rome(2025, 1, 10, 9, 30)),
        fail("MI0001", rome(2025, 1, 11)),
    )

    ledger.adjust(
        "reinstate",
        CUSTOMER,
        rome(2026, 1, 10, 15, 0),
        credit_id="CR-MI0001",
        amount="30.00",
        until=rome(2026, 6, 1),
    )
    ledger.sweep("expiry", rome(2026, 1, 11))

    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["expires_at"]) == (3000, rome(2026, 6, 1))
