"""attack8: a derivation settles expiries that the books, applied in order, had not.

``derive`` settles, before each event, every expiry due by the event's position (up
to the sweep's latest ``as_of``), as if an expiry sweep ran just before every event.
Applied in order, the rules do not: the expiry sweep runs at 04:30, and an event later
that day finds an expired credit not yet forfeited. Where a rule acts on that
remainder, the two disagree, so an unrelated late event re-derives different books
and "corrects" what was right in business-time order:

* an order paid with credit fails after the credit expired, before the next sweep: in
  order, the restored 10.00 and the expired remainder (20.00) are forfeited together at
  the failure; derived, 20.00 at the expiry and 10.00 at the failure. A late payment
  of the same customer then voids the ``credit.expired`` and ``credit.restored`` and
  tells new ones, for nothing that happened to the credit;
* ops extend a credit whose expiry passed a few hours before (the sweep had not run):
  the extension keeps it alive; a later late event derives the books again, forfeits
  it at its old expiry before the extension, and the customer is told
  ``credit.expired`` after ``credit.adjusted`` (extended).
"""

from scenarios.kit import (
    CUSTOMER,
    OTHER_CUSTOMER,
    Books,
    fail,
    pay,
    rome,
    transfer,
)


def _credit_of_30_partly_used(ledger: Books, customer: str, tag: str) -> None:
    """CR-<tag>01: 30.00 expiring 2026-01-10 10:00; 10.00 of it paid <tag>00 (June 2025)."""
    ledger.record(pay(f"{tag}01", customer, "30.00", rome(2025, 1, 10)))
    ledger.record(fail(f"{tag}01", rome(2025, 1, 11)))
    ledger.record(transfer(f"R-{tag}", customer, f"{tag}00", "10.00", rome(2025, 6, 1)))


def test_a_late_payment_leaves_a_restore_after_expiry_as_business_time_order_did(
    ledger: Books,
) -> None:
    """The same history for two customers: A's delivered in business-time order, B's
    with a payment of 11:00 delivered the next day. Both must end with the same
    forfeitures, and B must not be told of a reinstatement."""
    _credit_of_30_partly_used(ledger, CUSTOMER, "AA")
    _credit_of_30_partly_used(ledger, OTHER_CUSTOMER, "BB")
    ledger.sweep("all", rome(2026, 1, 10, 4, 30))
    ledger.record(pay("AA02", CUSTOMER, "5.00", rome(2026, 1, 10, 11)))
    ledger.record(fail("AA00", rome(2026, 1, 10, 12)))
    ledger.record(fail("BB00", rome(2026, 1, 10, 12)))
    ledger.sweep("all", rome(2026, 1, 11, 4, 30))

    ledger.record(pay("BB02", OTHER_CUSTOMER, "5.00", rome(2026, 1, 10, 11)))

    def forfeited(customer: str) -> list[tuple[str, str]]:
        return sorted(
            (each["forfeited"], each["expired_at"])
            for each in ledger.standing("credit.expired")
            if each["customer_id"] == customer
        )

    assert forfeited(OTHER_CUSTOMER) == forfeited(CUSTOMER)
    assert ledger.data("credit.reinstated") == []


def test_an_extension_booked_before_the_sweep_survives_a_later_correction(
    ledger: Books,
) -> None:
    """CR-MI0001 (30.00) expires 2026-01-10 10:00; at 09:00 ops extend it to June (an
    extension after the expiry is refused since attack11: R4 forfeits at the expiry
    whether or not a sweep ran). A payment of 11:00 delivered after one of 13:00 (late,
    nothing to do with the credit) must leave it as it was: extended, 30.00 available."""
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 1, 10)))
    ledger.record(fail("MI0001", rome(2025, 1, 11)))
    ledger.sweep("all", rome(2026, 1, 10, 4, 30))
    ledger.record(pay("MI0900", OTHER_CUSTOMER, "5.00", rome(2026, 1, 10, 12)))
    ledger.adjust(
        "extend", CUSTOMER, rome(2026, 1, 10, 9), credit_id="CR-MI0001", until=rome(2026, 6, 1)
    )
    ledger.sweep("all", rome(2026, 1, 11, 4, 30))
    ledger.record(pay("MI0200", CUSTOMER, "5.00", rome(2026, 1, 10, 13)))
    assert ledger.credit("CR-MI0001")["available"] == 3000

    ledger.record(pay("MI0201", CUSTOMER, "5.00", rome(2026, 1, 10, 11)))

    assert ledger.standing("credit.expired") == []
    assert ledger.credit("CR-MI0001")["available"] == 3000
    assert ledger.available(CUSTOMER, rome(2026, 2, 1)) == 3000
