"""Variants of attack11's findings on the dates an operator gives a credit: an
extension is for credit still usable, a reinstatement never shortens a credit, and
every expiry a credit is given is reminded (R10) once, whatever came before."""

import pytest
from scenarios.kit import CUSTOMER, Books, fail, pay, rome

from ledger.errors import AdjustmentRefusedError


def _credit(ledger: Books) -> None:
    """CR-MI0001: 30.00, paid 10 January 2025, so it expires 10 January 2026 09:30."""
    ledger.record(
        pay("MI0001", CUSTOMER, "30.00", rome(2025, 1, 10, 9, 30)),
        fail("MI0001", rome(2025, 1, 11)),
    )


def test_an_extension_at_the_very_instant_of_expiry_is_refused(ledger: Books) -> None:
    """R2: usable while ``now < expires_at``; at the expiry itself nothing is left to
    extend, and nothing is told."""
    _credit(ledger)

    with pytest.raises(AdjustmentRefusedError, match="expired"):
        ledger.adjust(
            "extend",
            CUSTOMER,
            rome(2026, 1, 10, 9, 30),
            credit_id="CR-MI0001",
            until=rome(2026, 6, 1),
        )

    assert ledger.data("credit.adjusted") == []
    assert ledger.credit("CR-MI0001")["expires_at"] == rome(2026, 1, 10, 9, 30)


def test_an_extension_a_minute_before_expiry_is_applied(ledger: Books) -> None:
    _credit(ledger)

    ledger.adjust(
        "extend",
        CUSTOMER,
        rome(2026, 1, 10, 9, 29),
        credit_id="CR-MI0001",
        until=rome(2026, 6, 1),
    )
    ledger.sweep("expiry", rome(2026, 1, 11))

    assert ledger.credit("CR-MI0001")["available"] == 3000


def test_a_reinstatement_of_an_expired_credit_until_a_date_before_its_expiry_is_refused(
    ledger: Books,
) -> None:
    """Forfeited at its expiry; reinstated "until" a date before that expiry: the date
    would make the credit expire before it ever did, and it is refused as shortening."""
    _credit(ledger)
    ledger.sweep("expiry", rome(2026, 1, 11))

    with pytest.raises(AdjustmentRefusedError, match="never moves its expiry earlier"):
        ledger.adjust(
            "reinstate",
            CUSTOMER,
            rome(2026, 1, 12),
            credit_id="CR-MI0001",
            amount="30.00",
            until=rome(2025, 12, 1),
        )

    assert ledger.credit("CR-MI0001")["forfeited"] == 3000


def test_a_credit_extended_twice_is_reminded_of_each_expiry(ledger: Books) -> None:
    """Extended in December until March, then in February until May: reminded before
    10 January (then extended), before 1 March (then extended), before 1 May."""
    _credit(ledger)
    ledger.sweep("reminders", rome(2025, 12, 12))
    ledger.adjust(
        "extend", CUSTOMER, rome(2025, 12, 20), credit_id="CR-MI0001", until=rome(2026, 3, 1)
    )
    ledger.sweep("reminders", rome(2026, 1, 31))
    ledger.adjust(
        "extend", CUSTOMER, rome(2026, 2, 2), credit_id="CR-MI0001", until=rome(2026, 5, 1)
    )
    ledger.sweep("reminders", rome(2026, 4, 2))
    ledger.sweep("reminders", rome(2026, 4, 2, 12))  # the same day again: nothing more

    told = [each["expires_at"][:10] for each in ledger.data("credit.expiring_soon")]
    assert told == ["2026-01-10", "2026-03-01", "2026-05-01"]


def test_a_reinstatement_before_the_sweep_settles_the_expiry_as_the_sweep_would(
    ledger: Books,
) -> None:
    """Expired at 09:30, no sweep yet; at 15:00 ops reinstate 10.00 of the 30.00 until
    June. The expiry is settled first (one forfeiture of 30.00 dated at the expiry, one
    ``credit.expired``), then 10.00 come back; the sweep that follows finds nothing."""
    _credit(ledger)

    ledger.adjust(
        "reinstate",
        CUSTOMER,
        rome(2026, 1, 10, 15),
        credit_id="CR-MI0001",
        amount="10.00",
        until=rome(2026, 6, 1),
    )
    ledger.sweep("expiry", rome(2026, 1, 11))

    forfeitures = [line for line in ledger.journal() if line[0] == "credit_forfeited"]
    assert [line[2] for line in forfeitures] == [rome(2026, 1, 10, 9, 30)]
    assert ledger.only("credit.expired")["forfeited"] == "30.00"
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["forfeited"]) == (1000, 2000)
