"""Attack on issue 7, kind 3: a top-up dated *after* its request but delivered before it.

The fix matches every top-up kept unmatched for the order at the request, at
`requested_at`, whatever its own `paid_at`. The same events in time order give other
books (SPEC §2: a replay of the same events gives the same books; R6: a hold lapses if
the difference is not paid within the window; R11: no balance is ever negative).
These tests fail on the code of issue 7's fix.
"""

import itertools
from collections import defaultdict

from scenarios.kit import CUSTOMER, Books, fail, pay, rome, topup, transfer

from ledger.books import Account
from ledger.policy import Policy


def _thirty_of_credit(ledger: Books) -> None:
    ledger.record(pay("MI0001", CUSTOMER, "30.00", rome(2025, 3, 1)))
    ledger.record(fail("MI0001", rome(2025, 3, 2)))


def test_a_topup_paid_after_the_hold_window_funds_nothing_whatever_the_arrival_order(
    ledger: Books,
) -> None:
    """REQ-1 on 1 April (window to 1 May); the 20.00 is paid on 15 May but delivered
    first. In time order the hold lapses and the money is `hold_lapsed`; seen: funded."""
    ledger.replay_case("attack7/topup_after_the_hold_window_delivered_first_funds_the_order")

    assert ledger.data("order.funded") == []
    assert ledger.only("hold.released")["order_id"] == "MI0002"
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 2000


def test_a_request_later_than_the_allowed_lateness_is_held_from_where_it_was_placed(
    ledger: Books,
) -> None:
    """The same case under an allowed lateness of 7 days: REQ-1, 44 days late, is too
    late, placed at the settled horizon (15 May less 7 days) and reported
    (`event.late`). Its hold runs from there (window to 7 June), so the top-up of
    15 May funds MI0002."""
    ledger = ledger.under(Policy(allowed_lateness_days=7))
    ledger.replay_case("attack7/topup_after_the_hold_window_delivered_first_funds_the_order")

    late = ledger.only("event.late")
    assert (late["event_id"], late["watermark"]) == ("evt-3", "2025-05-15T10:00:00+02:00")
    assert ledger.only("topup.required")["due_by"].startswith("2025-06-07")
    assert ledger.only("order.funded")["order_id"] == "MI0002"
    assert ledger.account(CUSTOMER, Account.UNMATCHED_PAYMENTS) == 0


def test_a_topup_paid_after_the_request_is_matched_when_it_was_paid(ledger: Books) -> None:
    """REQ-1 on 1 April, top-up paid 5 April, delivered before REQ-1: the hold is
    committed on 5 April, as in time order. Seen: committed and matched on 1 April."""
    _thirty_of_credit(ledger)
    ledger.record(topup("MI0002", CUSTOMER, "20.00", rome(2025, 4, 5)))
    ledger.record(transfer("R1", CUSTOMER, "MI0002", "50.00", rome(2025, 4, 1)))

    matched = [line for line in ledger.journal() if line[0] in {"topup_matched", "hold_committed"}]
    assert {effective_at for _, _, effective_at, _ in matched} == {rome(2025, 4, 5)}
    before_it_was_paid = ledger.balance(CUSTOMER, rome(2025, 4, 3))
    assert (before_it_was_paid.credits[0].held, before_it_was_paid.credits[0].used) == (3000, 0)


def test_no_account_is_negative_at_any_business_instant(ledger: Books) -> None:
    """R11 in business time (the kit checks it in writing order only): replayed by
    `effective_at`, the customer's unmatched payments never go below zero. Seen: -20.00
    from 1 April (matched at the request) to 5 April (the money received)."""
    _thirty_of_credit(ledger)
    ledger.record(topup("MI0002", CUSTOMER, "20.00", rome(2025, 4, 5)))
    ledger.record(transfer("R1", CUSTOMER, "MI0002", "50.00", rome(2025, 4, 1)))

    assert _negative_at_some_business_instant(ledger) == []


def _negative_at_some_business_instant(ledger: Books) -> list[tuple[str, str, int]]:
    """(customer, account, natural balance) wherever a balance dips below zero when the
    journal is replayed in business-time order (entries effective at one instant apply
    together)."""
    dips = []
    running: dict[tuple[str, str], int] = defaultdict(int)
    by_instant = itertools.groupby(
        sorted(ledger.journal(), key=lambda line: line[2]), key=lambda line: line[2]
    )
    for _, lines in by_instant:
        touched = set()
        for _, customer, _, postings in lines:
            for account, _, cents in postings:
                running[(customer, account)] += cents
                touched.add((customer, account))
        for customer, account in sorted(touched):
            raw = running[(customer, account)]
            natural = raw if account == Account.CASH.value else -raw
            if natural < 0:
                dips.append((customer, account, natural))
    return dips
