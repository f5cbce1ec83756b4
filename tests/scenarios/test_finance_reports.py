"""Finance reports: breakage in a month and the credit liability at an instant, read
from the journal, reconcile with it; on a generated history, every month's breakage and
every instant's liability equal what the accounts and the customers' balances say."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from scenarios.kit import (
    ROME,
    Books,
    activate,
    fail,
    journal_of,
    pay,
    refund,
    rome,
    topup,
    transfer,
)

from ledger.books import Account
from ledger.reports import BreakageLine, LiabilityLine, breakage, liability

CUSTOMERS = ("1111111@aruba.it", "2222222@aruba.it", "3333333@aruba.it")


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=ROME)
    return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=ROME)


def test_breakage_of_a_month_lists_what_expired_in_it_by_origin(ledger: Books) -> None:
    """A credit of 100.00 expiring unused on 10 January 2027 is January's breakage; a
    SPID credit paid on 12 February 2026 and never used is February's."""
    ledger.record(
        pay("MI0001", CUSTOMERS[0], "100.00", rome(2026, 1, 10, 9, 30)),
        fail("MI0001", rome(2026, 1, 11)),
        pay("MI0002", CUSTOMERS[1], "49.90", rome(2026, 2, 12), service="spid"),
    )
    ledger.sweep("all", rome(2026, 5, 14))  # the SPID order times out: refundable credit
    ledger.sweep("expiry", rome(2027, 1, 10, 9, 30))
    ledger.sweep("expiry", rome(2027, 2, 28))

    january = breakage(ledger.engine, *month_bounds(2027, 1))
    february = breakage(ledger.engine, *month_bounds(2027, 2))

    assert january.lines == [BreakageLine("activation_failed", "credit_forfeited", 1, 10000)]
    assert (january.total_cents, january.reconciled) == (10000, True)
    assert february.lines == [BreakageLine("spid_timeout", "credit_forfeited", 1, 4990)]
    assert breakage(ledger.engine, *month_bounds(2027, 3)).lines == []


def test_liability_splits_available_and_held_credit_by_expiry_month_and_origin(
    ledger: Books,
) -> None:
    """Held credit stays owed until the order is funded; the expiry month is read in
    Europe/Rome; a credit fully used is no longer owed."""
    ledger.record(
        pay("MI0001", CUSTOMERS[0], "100.00", rome(2026, 1, 31, 23, 30)),
        fail("MI0001", rome(2026, 2, 1)),
        pay("MI0002", CUSTOMERS[1], "30.00", rome(2026, 3, 5)),
        fail("MI0002", rome(2026, 3, 6)),
        transfer("R1", CUSTOMERS[1], "MI0100", "50.00", rome(2026, 3, 10)),
        pay("MI0003", CUSTOMERS[2], "20.00", rome(2026, 3, 5)),
        fail("MI0003", rome(2026, 3, 6)),
        transfer("R2", CUSTOMERS[2], "MI0200", "20.00", rome(2026, 3, 10)),
    )

    report = liability(ledger.engine, rome(2026, 3, 20), ROME)

    # 23:30 in Rome on 31 January is 22:30 UTC: still January where the rules read it.
    assert report.lines == [
        LiabilityLine("2027-01", "activation_failed", 1, 10000, 0),
        LiabilityLine("2027-03", "activation_failed", 1, 0, 3000),
    ]
    assert (report.available_cents, report.held_cents, report.reconciled) == (10000, 3000, True)
    before = liability(ledger.engine, rome(2026, 3, 7), ROME)
    assert before.lines == [
        LiabilityLine("2027-01", "activation_failed", 1, 10000, 0),
        LiabilityLine("2027-03", "activation_failed", 2, 5000, 0),
    ]


def generated_history(books: Books, seed: int) -> tuple[datetime, datetime]:
    """A year and a half of random business for three customers, in business-time
    order, with daily sweeps: payments, failed and completed activations, SPID orders
    left to time out, transfers covered or held, top-ups, refunds. Its first and last
    instants."""
    rng = random.Random(seed)
    start = rome(2026, 1, 5)
    now = start
    orders = 0
    requests = 0
    spid_unactivated: list[tuple[str, str]] = []
    for _day in range(0, 540, 3):
        now += timedelta(days=3)
        for _ in range(rng.randint(0, 3)):
            customer = rng.choice(CUSTOMERS)
            orders += 1
            order = f"MI{orders:05d}"
            amount = f"{rng.choice([500, 1000, 2550, 4990, 12000]) / 100:.2f}"
            roll = rng.random()
            if roll < 0.25:
                books.record(pay(order, customer, amount, now, service="spid"))
                spid_unactivated.append((order, customer))
            else:
                books.record(pay(order, customer, amount, now))
                outcome = fail if roll < 0.75 else activate
                books.record(outcome(order, now + timedelta(hours=2)))
        if rng.random() < 0.4:
            customer = rng.choice(CUSTOMERS)
            requests += 1
            orders += 1
            if rng.random() < 0.2:
                books.record(refund(f"REQ{requests:04d}", customer, now + timedelta(hours=5)))
            else:
                new_order = f"MI{orders:05d}"
                amount = f"{rng.choice([1000, 3000, 8000]) / 100:.2f}"
                books.record(
                    transfer(
                        f"REQ{requests:04d}", customer, new_order, amount, now + timedelta(hours=5)
                    )
                )
                if rng.random() < 0.5:
                    paid = f"{rng.choice([500, 2000, 9000]) / 100:.2f}"
                    books.record(topup(new_order, customer, paid, now + timedelta(days=1)))
        books.sweep("all", now + timedelta(hours=20))
    return start, now + timedelta(days=1)


def journal_sum(books: Books, account: Account, since: datetime, until: datetime) -> int:
    """The account's movement in ``[since, until)``, credit-normal sign, from the
    journal itself."""
    return -sum(
        cents
        for _kind, _customer, effective_at, postings in journal_of(books.engine)
        for posting_account, _credit, cents in postings
        if posting_account == account.value and since <= effective_at < until
    )


def test_reports_reconcile_with_the_journal_on_a_generated_history(ledger: Books) -> None:
    """Every month's breakage adds up to the breakage account's movement in it and the
    months to the whole account; at instants along the way, the liability by expiry
    month and origin equals the customers' balances and the accounts' balances."""
    first, last = generated_history(ledger, seed=20261130)
    forfeited = 0
    cursor = (first.year, first.month)
    while datetime(*cursor, 1, tzinfo=ROME) <= last + timedelta(days=400):
        start, end = month_bounds(*cursor)
        monthly = breakage(ledger.engine, start, end)
        assert monthly.reconciled
        assert monthly.total_cents == journal_sum(ledger, Account.BREAKAGE, start, end)
        forfeited += monthly.total_cents
        cursor = (end.year, end.month)
    everything = journal_sum(
        ledger, Account.BREAKAGE, first - timedelta(days=1), datetime.max.replace(tzinfo=ROME)
    )
    assert forfeited == everything > 0

    held_seen, origins_seen = 0, set[str]()
    for as_of in (first + timedelta(days=days) for days in (40, 200, 380, 600)):
        report = liability(ledger.engine, as_of, ROME)
        held_seen += report.held_cents
        origins_seen |= {line.origin for line in report.lines}
        expected_available: Counter[tuple[str, str]] = Counter()
        expected_held: Counter[tuple[str, str]] = Counter()
        owing: defaultdict[tuple[str, str], int] = defaultdict(int)
        for customer in CUSTOMERS:
            for credit in ledger.balance(customer, as_of).credits:
                key = (credit.expires_at.astimezone(ROME).strftime("%Y-%m"), credit.origin)
                expected_available[key] += credit.remaining
                expected_held[key] += credit.held
                owing[key] += bool(credit.remaining or credit.held)
        assert report.reconciled
        assert {
            (line.expiry_month, line.origin): line.available_cents for line in report.lines
        } == {key: cents for key, cents in expected_available.items() if owing[key]}
        assert {(line.expiry_month, line.origin): line.held_cents for line in report.lines} == {
            key: cents for key, cents in expected_held.items() if owing[key]
        }
        assert {(line.expiry_month, line.origin): line.credits for line in report.lines} == {
            key: count for key, count in owing.items() if count
        }
        epoch = datetime(2000, 1, 1, tzinfo=ROME)
        assert report.available_cents == journal_sum(
            ledger, Account.CREDIT_AVAILABLE, epoch, as_of + timedelta(microseconds=1)
        )
        assert report.held_cents == journal_sum(
            ledger, Account.CREDIT_HELD, epoch, as_of + timedelta(microseconds=1)
        )
    # The history is worth checking: it holds credit at some instant, and both origins.
    assert held_seen > 0
    assert origins_seen == {"activation_failed", "spid_timeout"}
