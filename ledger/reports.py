"""Finance reports, read from the journal: breakage in a month, credit liability at an
instant. Reads only.

Every figure is a sum of postings by account (``books``): a reversing entry, posted
to the same accounts with the opposite sign, nets out of the figures by itself, and
each report's totals are checked against the account balance it restates
(``journal``), so a report always says whether it reconciles with the journal.

Amounts are integer cents, positive as the provider sees them: breakage is income
(``-sum`` of the credit-normal ``breakage`` postings), liability is what the
customers are owed (``-sum`` of ``credit_available`` and ``credit_held``). Totals
have no upper bound (many credits of the largest amount add up past a 64-bit
integer): sums are taken with ``ledger.store.sums``, exact on both databases. Instants
are business time: a posting counts from its entry's ``effective_at``.

A correction is dated like the entry it corrects, so the figures of a closed month
change when a late event reverses something in it. Each report also takes
``known_at``, a recorded time (``ledger.recorded_time``): only the entries written by
then count, and the figure is the one the books gave at that time, whatever was
corrected since. None counts every entry written.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Engine, func, select

from ledger.books import Account
from ledger.recorded_time import recorded_by
from ledger.store import schema
from ledger.store.sums import joined_cents, summed_cents

__all__ = [
    "BreakageLine",
    "BreakageReport",
    "LiabilityLine",
    "LiabilityReport",
    "breakage",
    "liability",
]

# A posting whose credit is not on record (none today) still counts, under this origin,
# so that the totals always restate the account balance.
_NO_CREDIT = "unknown"


@dataclass(frozen=True, slots=True, order=True)
class BreakageLine:
    """Credit forfeited to the provider in the period, for one origin and entry kind."""

    origin: str
    kind: str
    credits: int
    cents: int


@dataclass(frozen=True, slots=True)
class BreakageReport:
    """Breakage effective in ``[start, end)`` as written by ``known_at`` (None: every
    entry written); ``journal_cents`` is the ``breakage`` account's movement over the
    same period and entries, which ``total_cents`` must equal."""

    start: datetime
    end: datetime
    known_at: datetime | None
    lines: list[BreakageLine]
    total_cents: int
    journal_cents: int

    @property
    def reconciled(self) -> bool:
        """Whether the lines add up to the journal's movement of the account."""
        return self.total_cents == self.journal_cents


@dataclass(frozen=True, slots=True)
class LiabilityLine:
    """Credit still owed at the report's instant, for one expiry month and origin.

    ``expiry_month`` is ``YYYY-MM`` in the business time zone; ``credits`` counts the
    credits with something available or held.
    """

    expiry_month: str
    origin: str
    credits: int
    available_cents: int
    held_cents: int

    @property
    def outstanding_cents(self) -> int:
        return self.available_cents + self.held_cents


@dataclass(frozen=True, slots=True)
class LiabilityReport:
    """Credit owed to customers at ``as_of`` as written by ``known_at`` (None: every
    entry written); ``journal_*`` are the balances of the ``credit_available`` and
    ``credit_held`` accounts over the same entries, which the totals must equal."""

    as_of: datetime
    known_at: datetime | None
    lines: list[LiabilityLine]
    available_cents: int
    held_cents: int
    journal_available_cents: int
    journal_held_cents: int

    @property
    def outstanding_cents(self) -> int:
        return self.available_cents + self.held_cents

    @property
    def reconciled(self) -> bool:
        """Whether the lines add up to the journal's balances of both accounts."""
        return (self.available_cents, self.held_cents) == (
            self.journal_available_cents,
            self.journal_held_cents,
        )


def breakage(
    engine: Engine, start: datetime, end: datetime, *, known_at: datetime | None = None
) -> BreakageReport:
    """Credit forfeited (R4) by entries effective in ``[start, end)`` and written by
    ``known_at`` (None: all), by the origin of the credit and the kind of entry (a
    reversal shows under its own kind, negative)."""
    posting, entry, credit = schema.postings.c, schema.journal_entries.c, schema.credits.c
    in_period = (entry.effective_at >= start) & (entry.effective_at < end) & recorded_by(known_at)
    is_breakage = posting.account == Account.BREAKAGE.value
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                credit.origin,
                entry.kind,
                func.count(func.distinct(posting.credit_id)),
                *summed_cents(posting.amount_cents),
            )
            .select_from(schema.postings)
            .join(schema.journal_entries, entry.entry_id == posting.entry_id)
            .outerjoin(schema.credits, credit.credit_id == posting.credit_id)
            .where(is_breakage, in_period)
            .group_by(credit.origin, entry.kind)
        ).all()
        journal = -_account_sum(connection, Account.BREAKAGE, in_period)
    lines = sorted(
        BreakageLine(
            origin=origin or _NO_CREDIT,
            kind=kind,
            credits=int(count),
            cents=-joined_cents(high, low),
        )
        for origin, kind, count, high, low in rows
    )
    return BreakageReport(
        start=start,
        end=end,
        known_at=known_at,
        lines=lines,
        total_cents=sum(line.cents for line in lines),
        journal_cents=journal,
    )


def liability(
    engine: Engine, as_of: datetime, zone: ZoneInfo, *, known_at: datetime | None = None
) -> LiabilityReport:
    """Credit available or held at ``as_of`` (business time) by the entries written by
    ``known_at`` (None: all), by the month the credit expires in (read in ``zone``) and
    its origin. A remainder past its expiry that no sweep has forfeited yet is still in
    the books, and still listed, under its month. The expiry month is the credit's
    today: one extended by hand after ``known_at`` is listed under its new month."""
    posting, entry, credit = schema.postings.c, schema.journal_entries.c, schema.credits.c
    owed = (Account.CREDIT_AVAILABLE.value, Account.CREDIT_HELD.value)
    effective = (entry.effective_at <= as_of) & recorded_by(known_at)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                posting.credit_id,
                credit.origin,
                credit.expires_at,
                posting.account,
                *summed_cents(posting.amount_cents),
            )
            .select_from(schema.postings)
            .join(schema.journal_entries, entry.entry_id == posting.entry_id)
            .outerjoin(schema.credits, credit.credit_id == posting.credit_id)
            .where(posting.account.in_(owed), effective)
            .group_by(posting.credit_id, credit.origin, credit.expires_at, posting.account)
        ).all()
        journal_available = -_account_sum(connection, Account.CREDIT_AVAILABLE, effective)
        journal_held = -_account_sum(connection, Account.CREDIT_HELD, effective)
    by_credit: dict[tuple[str | None, str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(owed, 0)
    )
    for credit_id, origin, expires_at, account, high, low in rows:
        month = expires_at.astimezone(zone).strftime("%Y-%m") if expires_at else _NO_CREDIT
        by_credit[(credit_id, month, origin or _NO_CREDIT)][account] = -joined_cents(high, low)
    groups: dict[tuple[str, str], list[dict[str, int]]] = defaultdict(list)
    for (_, month, origin), amounts in by_credit.items():
        groups[(month, origin)].append(amounts)
    lines = [
        LiabilityLine(
            expiry_month=month,
            origin=origin,
            credits=sum(1 for each in amounts if any(each.values())),
            available_cents=sum(each[Account.CREDIT_AVAILABLE.value] for each in amounts),
            held_cents=sum(each[Account.CREDIT_HELD.value] for each in amounts),
        )
        for (month, origin), amounts in sorted(groups.items())
    ]
    lines = [line for line in lines if line.credits]
    return LiabilityReport(
        as_of=as_of,
        known_at=known_at,
        lines=lines,
        available_cents=sum(line.available_cents for line in lines),
        held_cents=sum(line.held_cents for line in lines),
        journal_available_cents=journal_available,
        journal_held_cents=journal_held,
    )


def _account_sum(connection: Connection, account: Account, when: ColumnElement[bool]) -> int:
    """The signed sum of ``account``'s postings in entries matching ``when``."""
    posting, entry = schema.postings.c, schema.journal_entries.c
    high, low = connection.execute(
        select(*summed_cents(posting.amount_cents))
        .select_from(schema.postings)
        .join(schema.journal_entries, entry.entry_id == posting.entry_id)
        .where(posting.account == account.value, when)
    ).one()
    return joined_cents(high, low)
