"""R2: credit may be used until paid_at + 12 calendar months, same wall-clock time in
Rome, a missing day clamped to the month's end; usable while now < expires_at, and
expiry is enforced when credit is spent, not only by the sweep."""

from datetime import timedelta

from scenarios.kit import CUSTOMER, Books, fail, pay, refund, rome, transfer

PAID = rome(2026, 1, 10, 9, 30)
EXPIRES = rome(2027, 1, 10, 9, 30)


def test_credit_expires_twelve_months_after_payment_at_the_same_time(ledger: Books) -> None:
    """Paid 10 January 2026 at 09:30 → usable until 10 January 2027 at 09:30."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 2, 1)))

    assert ledger.only("credit.granted")["expires_at"] == "2027-01-10T09:30:00+01:00"
    assert ledger.credit("CR-MI0001")["expires_at"] == EXPIRES


def test_a_summer_payment_expires_at_the_summer_wall_clock_time(ledger: Books) -> None:
    """The offset in the notification is the one in force on the expiry date."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 7, 15, 9, 30)),
        fail("MI0001", rome(2026, 7, 16)),
    )

    assert ledger.only("credit.granted")["expires_at"] == "2027-07-15T09:30:00+02:00"


def test_a_leap_day_payment_expires_on_28_february(ledger: Books) -> None:
    """Paid 2024-02-29 → expires 2025-02-28 (the SPEC's own example)."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2024, 2, 29, 9, 30)),
        fail("MI0001", rome(2024, 3, 1)),
    )

    assert ledger.only("credit.granted")["expires_at"] == "2025-02-28T09:30:00+01:00"


def test_credit_is_usable_until_the_last_moment_before_expiry(ledger: Books) -> None:
    """A transfer requested one second before expires_at is covered."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 2, 1)))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "100.00", EXPIRES - timedelta(seconds=1)))

    assert ledger.only("credit.applied")["applied"] == "100.00"
    assert ledger.credit("CR-MI0001")["used"] == 10000


def test_credit_is_not_usable_at_the_instant_it_expires(ledger: Books) -> None:
    """now == expires_at: refused as expired, even though no sweep has run yet."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 2, 1)))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", EXPIRES))

    rejected = ledger.only("request.rejected")
    assert rejected["reason"] == "credit_expired"
    assert rejected["request_id"] == "R1"
    assert ledger.data("credit.applied") == []
    assert ledger.credit("CR-MI0001")["available"] == 10000  # the sweep will forfeit it


def test_expired_credit_cannot_be_held_for_a_topup_either(ledger: Books) -> None:
    """A transfer larger than the (expired) credit is refused, not held."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 2, 1)))

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "250.00", EXPIRES + timedelta(days=3)))

    assert ledger.only("request.rejected")["reason"] == "credit_expired"
    assert ledger.data("topup.required") == []
    assert ledger.credit("CR-MI0001")["held"] == 0


def test_only_unexpired_credit_pays_when_several_exist(ledger: Books) -> None:
    """Of two credits, the one past its expiry is skipped at spend time."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", PAID),
        fail("MI0001", rome(2026, 2, 1)),
        pay("MI0002", CUSTOMER, "80.00", rome(2026, 6, 1)),
        fail("MI0002", rome(2026, 6, 2)),
    )

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "50.00", rome(2027, 2, 1)))

    applied = ledger.only("credit.applied")
    assert applied["from_credits"] == [{"credit_id": "CR-MI0002", "amount": "50.00"}]
    assert ledger.credit("CR-MI0001")["used"] == 0


def test_balance_stops_counting_credit_at_expires_at(ledger: Books) -> None:
    """The balance read model applies R2 too: available up to, not at, expires_at."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 2, 1)))

    before = ledger.balance(CUSTOMER, EXPIRES - timedelta(minutes=1))
    at_expiry = ledger.balance(CUSTOMER, EXPIRES)

    assert before.available == 10000
    assert [line.status for line in before.credits] == ["available"]
    assert at_expiry.available == 0
    assert [line.status for line in at_expiry.credits] == ["expired"]


def test_refund_of_expired_refundable_credit_is_refused_at_spend_time(ledger: Books) -> None:
    """Expiry is enforced on refunds as well, before any sweep."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))
    ledger.sweep("spid_timeout", rome(2026, 4, 11))

    ledger.record(refund("R1", CUSTOMER, EXPIRES))

    assert ledger.only("request.rejected")["reason"] == "credit_expired"
    assert ledger.data("refund.requested") == []
