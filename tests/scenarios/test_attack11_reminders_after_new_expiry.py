"""attack11: a credit given a new expiry by hand is never reminded of it (R10).

SPEC R10: ``credit.expiring_soon`` "at 30 and 7 days before a credit with remaining
balance expires", each reminder at most once. ``residuo adjust extend`` (and
``reinstate --until``) give a credit a new expiry, told to the customer in
``credit.adjusted``. A customer whose credit now runs until 1 June expects the two
reminders before 1 June: the ones sent in January were about 5 February, a date that
no longer stands. Today the reminders of the old expiry count as the reminders of the
credit, so 30.00 is forfeited on 1 June without a word beforehand.
"""

from scenarios.kit import CUSTOMER, Books, fail, pay, rome


def _reminded_before_the_old_expiry(ledger: Books) -> None:
    """CR-MI0001, 30.00, expires 5 February 2026; both reminders are sent."""
    ledger.record(
        pay("MI0001", CUSTOMER, "30.00", rome(2025, 2, 5)), fail("MI0001", rome(2025, 2, 6))
    )
    ledger.sweep("reminders", rome(2026, 1, 10))
    ledger.sweep("reminders", rome(2026, 1, 30))
    assert [each["days_left"] for each in ledger.data("credit.expiring_soon")] == [26, 6]


def test_an_extended_credit_is_reminded_before_its_new_expiry(ledger: Books) -> None:
    """Extended on 1 February until 1 June: reminded again in May, naming 1 June."""
    _reminded_before_the_old_expiry(ledger)
    ledger.adjust(
        "extend", CUSTOMER, rome(2026, 2, 1), credit_id="CR-MI0001", until=rome(2026, 6, 1)
    )

    ledger.sweep("reminders", rome(2026, 5, 5))
    ledger.sweep("reminders", rome(2026, 5, 28))

    later = [
        each["expires_at"]
        for each in ledger.data("credit.expiring_soon")
        if each["expires_at"].startswith("2026-06-01")
    ]
    assert len(later) == 2, ledger.data("credit.expiring_soon")


def test_a_reinstated_credit_is_reminded_before_its_new_expiry(ledger: Books) -> None:
    """Forfeited on 5 February, reinstated on 10 February until 1 June: reminded in May."""
    _reminded_before_the_old_expiry(ledger)
    ledger.sweep("expiry", rome(2026, 2, 6))
    ledger.adjust(
        "reinstate",
        CUSTOMER,
        rome(2026, 2, 10),
        credit_id="CR-MI0001",
        amount="30.00",
        until=rome(2026, 6, 1),
    )

    ledger.sweep("reminders", rome(2026, 5, 5))
    ledger.sweep("reminders", rome(2026, 5, 28))

    later = [
        each["expires_at"]
        for each in ledger.data("credit.expiring_soon")
        if each["expires_at"].startswith("2026-06-01")
    ]
    assert len(later) == 2, ledger.data("credit.expiring_soon")
