"""The order a correction writes its reversals and new entries in.

A correction's final books are right whatever order its entries are written in; R11
also asks that no account ever stand below zero *between* two entries, for anyone
who replays the journal in the order it was written (an auditor, a rebuild). Neither
fixed order is safe: reversing a late payment's ``order_paid`` before booking the
earlier payment that replaces it leaves ``order_prepayments`` short for a moment,
while booking a use of credit before reversing the use it replaces leaves
``credit_available`` short. So the order is chosen per correction, from the
balances the accounts stand at.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Final

from sqlalchemy import func, select

from ledger.books import Account, Entry
from ledger.store import schema
from ledger.store.uow import UnitOfWork

__all__ = ["in_write_order"]

_DEBIT_NORMAL: Final = frozenset({Account.CASH, Account.GOODWILL})
"""Assets and the goodwill expense; every other account is a liability or income,
whose balance stands as credits (negative postings)."""

Balances = dict[tuple[str, str], int]
"""Natural-sign balance in cents, by ``(customer_id, account)``."""


def in_write_order(uow: UnitOfWork, preferred: Sequence[Entry]) -> list[Entry]:
    """``preferred`` reordered so that after each entry every account of its customer
    stands at zero or above in its natural sign (R11), keeping ``preferred``'s order
    wherever that holds; when no remaining entry keeps it, the next preferred one goes
    (the final books do not depend on the order).

    One query: the balances of the customers the entries touch.
    """
    if len(preferred) < 2:
        return list(preferred)
    balances = _balances(uow, {entry.customer_id for entry in preferred})
    pending = list(preferred)
    ordered: list[Entry] = []
    while pending:
        index = next(
            (i for i, entry in enumerate(pending) if _keeps_books_whole(balances, entry)), 0
        )
        entry = pending.pop(index)
        _apply(balances, entry)
        ordered.append(entry)
    return ordered


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


def _moves(entry: Entry) -> dict[tuple[str, str], int]:
    moves: dict[tuple[str, str], int] = defaultdict(int)
    for line in entry.lines:
        moves[(entry.customer_id, line.account.value)] += _natural(line.account, line.amount_cents)
    return moves


def _keeps_books_whole(balances: Balances, entry: Entry) -> bool:
    return all(balances[key] + cents >= 0 or cents >= 0 for key, cents in _moves(entry).items())


def _apply(balances: Balances, entry: Entry) -> None:
    for key, cents in _moves(entry).items():
        balances[key] += cents
