"""R4: credit still unused at expires_at is forfeited to the provider (breakage), the
customer can neither use nor reclaim it, credit.expired is sent, and only the unused
remainder is forfeited."""

from datetime import timedelta

from scenarios.kit import (
    CUSTOMER,
    Books,
    assert_books_never_negative_in_business_time,
    fail,
    pay,
    refund,
    rome,
    transfer,
)

from ledger.books import Account

PAID = rome(2026, 1, 10, 9, 30)
EXPIRES = rome(2027, 1, 10, 9, 30)


def test_unused_credit_is_forfeited_at_expiry(ledger: Books) -> None:
    """The sweep books the whole unused credit to breakage and says so."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 1, 11)))

    tally = ledger.sweep("expiry", EXPIRES)

    assert ledger.only("credit.expired") == {
        "customer_id": CUSTOMER,
        "credit_id": "CR-MI0001",
        "forfeited": "100.00",
        "expired_at": "2027-01-10T09:30:00+01:00",
    }
    assert tally["expiry"] == {"counts": {"forfeited": 1}, "cents": {"forfeited": 10000}}
    assert ledger.account(CUSTOMER, Account.BREAKAGE) == 10000
    assert ledger.account(CUSTOMER, Account.CREDIT_AVAILABLE) == 0
    assert ledger.credit("CR-MI0001")["forfeited"] == 10000


def test_only_the_unused_remainder_is_forfeited(ledger: Books) -> None:
    """60 used, 40 left: 40 is forfeited and the 60 stays used."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", PAID),
        fail("MI0001", rome(2026, 1, 11)),
        transfer("R1", CUSTOMER, "MI0100", "60.00", rome(2026, 5, 1)),
    )

    ledger.sweep("expiry", EXPIRES)

    assert ledger.only("credit.expired")["forfeited"] == "40.00"
    credit = ledger.credit("CR-MI0001")
    assert (credit["used"], credit["forfeited"], credit["available"]) == (6000, 4000, 0)
    assert ledger.account(CUSTOMER, Account.BREAKAGE) == 4000


def test_fully_used_credit_has_nothing_to_forfeit(ledger: Books) -> None:
    """No credit.expired for a credit with nothing left."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", PAID),
        fail("MI0001", rome(2026, 1, 11)),
        transfer("R1", CUSTOMER, "MI0100", "100.00", rome(2026, 5, 1)),
    )

    ledger.sweep("expiry", EXPIRES + timedelta(days=1))

    assert ledger.data("credit.expired") == []
    assert ledger.account(CUSTOMER, Account.BREAKAGE) == 0


def test_nothing_is_forfeited_a_minute_before_expiry(ledger: Books) -> None:
    """The sweep forfeits at expires_at, not before."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 1, 11)))

    ledger.sweep("expiry", EXPIRES - timedelta(minutes=1))

    assert ledger.data("credit.expired") == []
    assert ledger.credit("CR-MI0001")["available"] == 10000


def test_a_late_sweep_dates_the_forfeiture_at_expiry(ledger: Books) -> None:
    """A sweep after an outage writes the forfeiture at expires_at, not at its own as_of."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 1, 11)))

    ledger.sweep("expiry", EXPIRES + timedelta(days=5))

    forfeits = [entry for entry in ledger.journal() if entry[0] == "credit_forfeited"]
    assert [entry[2] for entry in forfeits] == [EXPIRES]
    assert ledger.only("credit.expired")["expired_at"] == "2027-01-10T09:30:00+01:00"


def test_sweeping_again_forfeits_nothing_more(ledger: Books) -> None:
    """The expiry sweep is idempotent: one credit.expired, one breakage entry."""
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", rome(2026, 1, 11)))

    ledger.sweep("expiry", EXPIRES)
    ledger.sweep("expiry", EXPIRES)
    ledger.sweep("all", EXPIRES + timedelta(days=30))

    assert len(ledger.data("credit.expired")) == 1
    assert ledger.account(CUSTOMER, Account.BREAKAGE) == 10000


def test_forfeited_credit_can_neither_be_used_nor_refunded(ledger: Books) -> None:
    """After the forfeiture the customer has nothing to transfer or reclaim."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", PAID, service="spid"))
    ledger.sweep("all", rome(2026, 4, 11))
    ledger.sweep("all", EXPIRES)

    ledger.record(
        transfer("R1", CUSTOMER, "MI0100", "10.00", EXPIRES + timedelta(days=1)),
        refund("R2", CUSTOMER, EXPIRES + timedelta(days=1)),
    )

    rejected = ledger.data("request.rejected")
    assert [(each["request_id"], each["reason"]) for each in rejected] == [
        ("R1", "credit_expired"),
        ("R2", "credit_expired"),
    ]
    assert ledger.data("credit.applied") == ledger.data("refund.requested") == []
    assert ledger.account(CUSTOMER, Account.REFUNDS_PAYABLE) == 0
    assert ledger.account(CUSTOMER, Account.BREAKAGE) == 4990
    assert ledger.available(CUSTOMER, EXPIRES + timedelta(days=1)) == 0


def test_only_expired_credits_are_forfeited(ledger: Books) -> None:
    """A sweep forfeits the credit that reached its expiry and leaves a younger one alone."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", PAID),
        fail("MI0001", rome(2026, 1, 11)),
        pay("MI0002", CUSTOMER, "30.00", rome(2026, 3, 1)),
        fail("MI0002", rome(2026, 3, 2)),
    )

    ledger.sweep("expiry", rome(2027, 2, 1))

    assert [each["credit_id"] for each in ledger.data("credit.expired")] == ["CR-MI0001"]
    assert ledger.available(CUSTOMER, rome(2027, 2, 1)) == 3000


def test_a_request_after_expiry_is_refused_alike_before_and_after_the_sweep(
    ledger: Books,
) -> None:
    """credit_expired either way: whether the sweep has already forfeited the remainder
    does not change what the customer is told."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", PAID),
        fail("MI0001", rome(2026, 1, 11)),
        transfer("R1", CUSTOMER, "MI0100", "10.00", EXPIRES + timedelta(hours=1)),
    )
    ledger.sweep("expiry", EXPIRES + timedelta(hours=2))

    ledger.record(transfer("R2", CUSTOMER, "MI0100", "10.00", EXPIRES + timedelta(hours=3)))

    reasons = [each["reason"] for each in ledger.data("request.rejected")]
    assert reasons == ["credit_expired", "credit_expired"]


def test_a_credit_granted_already_expired_is_forfeited_at_its_grant(ledger: Books) -> None:
    """R2 counts twelve months from payment: an activation that fails thirteen months
    after its payment grants a credit already past its expiry. The sweep forfeits it
    dated at the grant, not at the expiry a month earlier, when the credit did not
    exist yet (R11: no balance below zero at any instant)."""
    failed = rome(2027, 2, 10, 9, 30)
    ledger.record(pay("MI0001", CUSTOMER, "100.00", PAID), fail("MI0001", failed))

    ledger.sweep("expiry", failed + timedelta(days=1))

    (forfeiture,) = [line for line in ledger.journal() if line[0] == "credit_forfeited"]
    assert forfeiture[2] == failed
    assert ledger.only("credit.expired")["expired_at"] == "2027-01-10T09:30:00+01:00"
    assert ledger.balance(CUSTOMER, failed).available == 0
    assert_books_never_negative_in_business_time(ledger.engine)
