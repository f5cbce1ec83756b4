"""The order a correction writes its reversals and new entries in, and how far back it
must reach for such an order to exist.

A correction's final books are right whatever order its entries are written in; R11
also asks that no account ever stand below zero *between* two entries, for anyone
who replays the journal in the order it was written (an auditor, a rebuild). Neither
fixed order is safe: reversing a late payment's ``order_paid`` before booking the
earlier payment that replaces it leaves ``order_prepayments`` short for a moment,
while booking a use of credit before reversing the use it replaces leaves
``credit_available`` short. So the order is chosen per correction, from the
balances the accounts stand at (``in_write_order``).

Sometimes no order of the fewest changes exists: an entry that stays (a refund of a
credit) was written after what the derivation now puts before it (a hold on that
credit, committed, then given back by the order's failure), and the hold cannot be
written after the refund without overdrawing the credit. Then the correction
*rewinds* (``rewound_if_unwritable``): every standing entry of its customers from the
earliest instant it changes is reversed, latest written first (retracing states the
books were in), and the derived entries from that instant are booked in business
order (states the derivation went through).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Final

from sqlalchemy import func, select

from ledger.books import Account, Entry
from ledger.corrections.comparison import Written
from ledger.store import schema
from ledger.store.uow import UnitOfWork

__all__ = ["in_write_order", "reversal_order", "rewound_if_unwritable"]

_DEBIT_NORMAL: Final = frozenset({Account.CASH, Account.GOODWILL})
"""Assets and the goodwill expense; every other account is a liability or income,
whose balance stands as credits (negative postings)."""

Balances = dict[tuple[str, str], int]
"""Natural-sign balance in cents, by ``(customer_id, account)``."""

Moves = dict[tuple[str, str], int]


def reversal_order(to_reverse: Iterable[Written]) -> list[Written]:
    """Latest written first: undoing the journal backwards passes through states it
    was in."""
    return sorted(to_reverse, key=lambda each: each.entry_id, reverse=True)


def rewound_if_unwritable(
    uow: UnitOfWork,
    written: Sequence[Written],
    derived: Sequence[Entry],
    to_reverse: list[Written],
    to_book: list[Entry],
) -> tuple[list[Written], list[Entry]]:
    """``(to_reverse, to_book)`` as given when ``in_write_order`` can write them with
    every account whole; else rewound to the earliest instant (UTC) they touch: every
    entry of ``written`` effective from then on reversed, every entry of ``derived``
    from then on booked. ``derived`` in business order. One query, when anything
    changes."""
    if not to_reverse and not to_book:
        return to_reverse, to_book
    balances = _balances(uow, _customers(to_reverse, to_book))
    planned = [_reversal_moves(each) for each in reversal_order(to_reverse)]
    planned += [_moves(entry) for entry in to_book]
    if _greedy(balances, planned)[1]:
        return to_reverse, to_book
    earliest = min(
        [each.entry.effective_at for each in to_reverse] + [entry.effective_at for entry in to_book]
    )
    return (
        [each for each in written if each.entry.effective_at >= earliest],
        [entry for entry in derived if entry.effective_at >= earliest],
    )


def in_write_order(uow: UnitOfWork, preferred: Sequence[Entry]) -> list[Entry]:
    """``preferred`` reordered so that after each entry every account of its customer
    stands at zero or above in its natural sign (R11), keeping ``preferred``'s order
    wherever that holds; when no remaining entry keeps it, the next preferred one goes
    (the final books do not depend on the order). One query: the balances of the
    customers the entries touch."""
    if len(preferred) < 2:
        return list(preferred)
    balances = _balances(uow, {entry.customer_id for entry in preferred})
    order, _ = _greedy(balances, [_moves(entry) for entry in preferred])
    return [preferred[index] for index in order]


def _greedy(balances: Balances, planned: Sequence[Moves]) -> tuple[list[int], bool]:
    """Indexes of ``planned`` in the order written, and whether every step kept every
    account whole. ``balances`` is consumed."""
    pending = list(range(len(planned)))
    order: list[int] = []
    whole = True
    while pending:
        position = next(
            (i for i, index in enumerate(pending) if _keeps_whole(balances, planned[index])),
            None,
        )
        if position is None:
            whole, position = False, 0
        index = pending.pop(position)
        for key, cents in planned[index].items():
            balances[key] += cents
        order.append(index)
    return order, whole


def _keeps_whole(balances: Balances, moves: Moves) -> bool:
    return all(cents >= 0 or balances[key] + cents >= 0 for key, cents in moves.items())


def _customers(to_reverse: Iterable[Written], to_book: Iterable[Entry]) -> set[str]:
    return {each.entry.customer_id for each in to_reverse} | {e.customer_id for e in to_book}


def _balances(uow: UnitOfWork, customers: Iterable[str]) -> Balances:
    posting = schema.postings.c
    rows = uow.connection.execute(
        select(posting.customer_id, posting.account, func.sum(posting.amount_cents))
        .where(posting.customer_id.in_(sorted(customers)))
        .group_by(posting.customer_id, posting.account)
    ).all()
    balances: Balances = defaultdict(int)
    for customer, account, raw in rows:
        balances[(customer, account)] = _natural(Account(account), int(raw))
    return balances


def _natural(account: Account, raw_cents: int) -> int:
    return raw_cents if account in _DEBIT_NORMAL else -raw_cents


def _moves(entry: Entry) -> Moves:
    moves: Moves = defaultdict(int)
    for line in entry.lines:
        moves[(entry.customer_id, line.account.value)] += _natural(line.account, line.amount_cents)
    return moves


def _reversal_moves(each: Written) -> Moves:
    return {key: -cents for key, cents in _moves(each.entry).items()}
