"""R11: every movement is a balanced double-entry posting; entries are append-only; at
every instant, per customer, granted = used + held + refunded + forfeited + available,
and no balance is ever negative."""

from collections.abc import Callable

import pytest
from scenarios.kit import (
    CUSTOMER,
    OTHER_CUSTOMER,
    Books,
    activate,
    assert_books_balance,
    fail,
    pay,
    refund,
    rome,
    topup,
    transfer,
)
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ledger.books import Account, Line, post_entry
from ledger.errors import UnbalancedEntryError
from ledger.queries import statement
from ledger.store import schema
from ledger.store.uow import UnitOfWork


def mixed_story(ledger: Books) -> None:
    """Two customers, every kind of movement, with the books checked after each step."""
    steps: list[Callable[[], object]] = [
        lambda: ledger.record(
            pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)), fail("MI0001", rome(2026, 1, 11))
        ),
        lambda: ledger.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 15), service="spid")),
        lambda: ledger.record(
            pay("MI0002", OTHER_CUSTOMER, "80.00", rome(2026, 2, 1)),
            activate("MI0002", rome(2026, 2, 2)),
        ),
        lambda: ledger.record(fail("MI0003", rome(2026, 2, 6))),  # parked
        lambda: ledger.record(pay("MI0003", OTHER_CUSTOMER, "35.50", rome(2026, 2, 5))),
        lambda: ledger.sweep("all", rome(2026, 4, 16)),  # SP0001 cancelled
        lambda: ledger.record(transfer("R1", CUSTOMER, "MI0100", "30.00", rome(2026, 5, 1))),
        lambda: ledger.record(transfer("R2", OTHER_CUSTOMER, "MI0200", "50.00", rome(2026, 5, 2))),
        lambda: ledger.record(topup("MI0200", OTHER_CUSTOMER, "20.00", rome(2026, 5, 3))),
        lambda: ledger.record(refund("R3", CUSTOMER, rome(2026, 5, 4))),
        lambda: ledger.record(transfer("R4", CUSTOMER, "MI0101", "100.00", rome(2026, 5, 5))),
        lambda: ledger.sweep("all", rome(2026, 6, 5)),  # R4's hold lapses
        lambda: ledger.record(topup("MI0999", CUSTOMER, "5.00", rome(2026, 6, 6))),
        lambda: ledger.sweep("all", rome(2027, 3, 1)),  # everything left expires
    ]
    for step in steps:
        step()
        assert_books_balance(ledger.engine)


def test_a_mixed_story_keeps_the_identity_for_every_customer(ledger: Books) -> None:
    """After payments, failures, a SPID timeout, transfers covered, held, funded and
    lapsed, a refund, unmatched money and expiries, each bucket is what happened."""
    mixed_story(ledger)

    mine = {account: ledger.account(CUSTOMER, account) for account in Account}
    assert mine[Account.CASH] == 10000 + 4990 + 500
    assert mine[Account.CREDIT_APPLIED] == 3000  # R1
    assert mine[Account.REFUNDS_PAYABLE] == 4990  # R3: the SPID credit
    assert mine[Account.BREAKAGE] == 7000  # R4 released, then expired
    assert mine[Account.CREDIT_AVAILABLE] == mine[Account.CREDIT_HELD] == 0
    assert mine[Account.UNMATCHED_PAYMENTS] == 500
    theirs = {account: ledger.account(OTHER_CUSTOMER, account) for account in Account}
    assert theirs[Account.REVENUE] == 8000
    assert theirs[Account.CREDIT_APPLIED] == 3550  # R2 funded with 35.50 + 14.50
    assert theirs[Account.TOPUPS_RECEIVED] == 1450
    assert theirs[Account.UNMATCHED_PAYMENTS] == 550  # overpaid by 5.50
    assert theirs[Account.CREDIT_AVAILABLE] == theirs[Account.BREAKAGE] == 0


def test_journal_entries_are_append_only(ledger: Books) -> None:
    """Later movements add entries; the earlier ones read exactly as before."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)), fail("MI0001", rome(2026, 1, 11))
    )
    before = _entries_with_postings(ledger)

    ledger.record(transfer("R1", CUSTOMER, "MI0100", "150.00", rome(2026, 5, 1)))
    ledger.sweep("all", rome(2026, 6, 1))
    ledger.sweep("all", rome(2027, 2, 1))

    after = _entries_with_postings(ledger)
    assert after[: len(before)] == before
    assert len(after) > len(before)


def _entries_with_postings(ledger: Books) -> list[tuple[object, ...]]:
    """Every entry with its postings, whole rows, in the order they were written."""
    with ledger.engine.connect() as connection:
        entries = connection.execute(
            select(schema.journal_entries).order_by(schema.journal_entries.c.entry_id)
        ).all()
        postings = connection.execute(
            select(schema.postings).order_by(schema.postings.c.posting_id)
        ).all()
    return [
        (tuple(entry), [tuple(line) for line in postings if line.entry_id == entry.entry_id])
        for entry in entries
    ]


def test_the_statement_adds_up_to_the_balance(ledger: Books) -> None:
    """Summing the customer's statement gives the available credit the balance shows."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)),
        fail("MI0001", rome(2026, 1, 11)),
        transfer("R1", CUSTOMER, "MI0100", "42.10", rome(2026, 5, 1)),
    )

    lines = statement(ledger.engine, CUSTOMER)

    available = -sum(
        amount
        for line in lines
        for account, _, amount in line.postings
        if account == Account.CREDIT_AVAILABLE.value
    )
    assert available == ledger.available(CUSTOMER, rome(2026, 5, 2)) == 5790
    assert [line.kind for line in lines] == ["order_paid", "credit_granted", "credit_applied"]
    assert all(sum(amount for _, _, amount in line.postings) == 0 for line in lines)


def test_an_unbalanced_entry_is_never_booked(ledger: Books) -> None:
    """post_entry refuses lines that do not sum to zero, and zero lines; nothing is written."""
    unbalanced = [Line(Account.CASH, 100), Line(Account.REVENUE, -99)]
    empty = [Line(Account.CASH, 0), Line(Account.REVENUE, 0)]
    for lines in (unbalanced, empty):
        with UnitOfWork(ledger.engine) as uow, pytest.raises(UnbalancedEntryError):
            post_entry(
                uow,
                kind="test",
                customer_id=CUSTOMER,
                cause="t",
                effective_at=rome(2026, 1, 1),
                recorded_at=rome(2026, 1, 1),
                memo="x",
                lines=lines,
            )

    assert ledger.journal() == []


def test_the_database_refuses_a_negative_or_unbalanced_credit(ledger: Books) -> None:
    """The per-credit identity and non-negative buckets are check constraints too."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)), fail("MI0001", rome(2026, 1, 11))
    )
    credits = schema.credits.c

    for values in (
        {"available_cents": credits.available_cents + 1},
        {"available_cents": -100, "used_cents": 10100},
    ):
        with ledger.engine.connect() as connection, pytest.raises(IntegrityError):
            connection.execute(update(schema.credits).values(values))

    assert ledger.credit("CR-MI0001")["available"] == 10000


def test_sweep_days_are_reported_with_counts_and_amounts(ledger: Books) -> None:
    """sweep.completed tells ops how many of what and for how much, per kind."""
    ledger.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 10), service="spid"))

    ledger.sweep("all", rome(2026, 4, 10, 10))

    reports = {each["kind"]: each for each in ledger.data("sweep.completed")}
    assert list(reports) == ["spid_timeout", "holds", "expiry", "reminders"]
    assert reports["spid_timeout"]["counts"] == {"cancelled": 1}
    assert reports["spid_timeout"]["amounts"] == {"cancelled": "49.90"}
    assert reports["holds"]["counts"] == {}
