"""The order a correction writes its reversals and new entries in, and how far back it
must reach for such an order to exist.

A correction's final books are right whatever order its entries are written in; R11
also asks that no account ever stand below zero *between* two entries, for anyone
who replays the journal in the order it was written (an auditor, a rebuild). Neither
fixed order is safe: reversing a late payment's ``order_paid`` before booking the
earlier payment that replaces it leaves ``order_prepayments`` short for a moment,
while booking a use of credit before reversing the use it replaces leaves
``credit_available`` short. So the order is chosen per correction, from the
balances the accounts stand at (``planned_writes``).

Sometimes no order of the fewest changes exists: an entry that stays (a refund of a
credit) was written after what the derivation now puts before it (a hold on that
credit, committed, then given back by the order's failure), and the hold cannot be
written after the refund without overdrawing the credit. Then the correction
*rewinds*: every standing entry of its customers from the earliest instant it
changes is reversed, latest written first (retracing states the
books were in), and the derived entries from that instant are booked in business
order (states the derivation went through).
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import func, select

from ledger.books import Account, Entry
from ledger.corrections.comparison import Written
from ledger.store import schema
from ledger.store.uow import UnitOfWork

__all__ = ["Write", "planned_writes"]

_DEBIT_NORMAL: Final = frozenset({Account.CASH, Account.GOODWILL})
"""Assets and the goodwill expense; every other account is a liability or income,
whose balance stands as credits (negative postings)."""

Balances = dict[tuple[str, str], int]
"""Natural-sign balance in cents, by ``(customer_id, account)``."""

Moves = dict[tuple[str, str], int]

Write = Written | Entry
"""One write of a correction: a ``Written`` entry is reversed, an ``Entry`` booked."""


def planned_writes(
    uow: UnitOfWork,
    written: Sequence[Written],
    derived: Sequence[Entry],
    to_reverse: Sequence[Written],
    to_book: Sequence[Entry],
) -> list[Write]:
    """The writes that make ``written`` the ``derived`` entries (business order), in an
    order that leaves every account of their customers at zero or above in its natural
    sign after each one (R11): ``to_reverse`` (latest written first) and ``to_book``
    (as given) where such an order exists, else rewound to the earliest instant (UTC)
    they touch, every entry of ``written`` effective from then on reversed and every
    entry of ``derived`` from then on booked. Within a plan, the preferred order
    (reversals, then bookings) is kept wherever it keeps the books whole. One query,
    when anything changes: the balances of the customers touched."""
    if not to_reverse and not to_book:
        return []
    customers = {each.entry.customer_id for each in to_reverse}
    customers |= {entry.customer_id for entry in to_book}
    balances = _balances(uow, customers)
    plan: list[Write] = [*_latest_written_first(to_reverse), *to_book]
    order, whole = _greedy(dict(balances), plan)
    if not whole:
        earliest = min(_effective_at(each) for each in plan)
        plan = [
            *_latest_written_first(e for e in written if e.entry.effective_at >= earliest),
            *(entry for entry in derived if entry.effective_at >= earliest),
        ]
        order, _ = _greedy(balances, plan)
    return [plan[index] for index in order]


def _latest_written_first(to_reverse: Iterable[Written]) -> list[Written]:
    # Undoing the journal backwards passes through states it was in.
    return sorted(to_reverse, key=lambda each: each.entry_id, reverse=True)


def _effective_at(write: Write) -> datetime:
    return write.entry.effective_at if isinstance(write, Written) else write.effective_at


def _greedy(balances: Balances, plan: Sequence[Write]) -> tuple[list[int], bool]:
    """Indexes of ``plan`` in the order written (the first that keeps every account
    whole, else the first), and whether every step kept them whole. ``balances`` is
    consumed."""
    moves = [_moves(each) for each in plan]
    pending = list(range(len(plan)))
    order: list[int] = []
    whole = True
    while pending:
        position = next(
            (i for i, index in enumerate(pending) if _keeps_whole(balances, moves[index])),
            None,
        )
        if position is None:
            whole, position = False, 0
        index = pending.pop(position)
        for key, cents in moves[index].items():
            balances[key] = balances.get(key, 0) + cents
        order.append(index)
    return order, whole


def _keeps_whole(balances: Balances, moves: Moves) -> bool:
    return all(cents >= 0 or balances.get(key, 0) + cents >= 0 for key, cents in moves.items())


def _balances(uow: UnitOfWork, customers: Iterable[str]) -> Balances:
    posting = schema.postings.c
    rows = uow.connection.execute(
        select(posting.customer_id, posting.account, func.sum(posting.amount_cents))
        .where(posting.customer_id.in_(sorted(customers)))
        .group_by(posting.customer_id, posting.account)
    ).all()
    return {
        (customer, account): _natural(Account(account), int(raw)) for customer, account, raw in rows
    }


def _natural(account: Account, raw_cents: int) -> int:
    return raw_cents if account in _DEBIT_NORMAL else -raw_cents


def _moves(write: Write) -> Moves:
    """What ``write`` adds to each account, in natural sign (a reversal, the opposite
    of its entry)."""
    entry, sign = (write.entry, -1) if isinstance(write, Written) else (write, 1)
    moves: Moves = {}
    for line in entry.lines:
        key = (entry.customer_id, line.account.value)
        moves[key] = moves.get(key, 0) + sign * _natural(line.account, line.amount_cents)
    return moves
