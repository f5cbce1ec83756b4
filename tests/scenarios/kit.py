"""What scenario tests are written with: terse events, a ledger to feed, books to read.

Events are built as upstream would publish them and go through `parse_inbound`, so
every scenario also proves that its events are valid on the wire. Times are
wall-clock readings in Europe/Rome (`rome(2026, 1, 10, 9, 30)`); amounts are the
decimal strings of the wire (`"49.90"`) and balances are read back in cents.

`assert_books_balance` is R11 checked from the journal itself, independently of
the per-credit buckets the ledger keeps (and then the two are compared).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from ledger.books import Account
from ledger.policy import Policy
from ledger.queries import Balance, balance
from ledger.service import Ledger, Recorded
from ledger.store import schema
from messages import InboundEvent, parse_inbound, parse_notification
from messages.adjustments import Adjustment

ROME = ZoneInfo("Europe/Rome")
CASES = Path(__file__).with_name("cases")
"""Replay files of faults found by users, each with the ``.expect.txt`` it was handed with."""
CUSTOMER = "1234567@aruba.it"
OTHER_CUSTOMER = "7654321@aruba.it"

_event_ids = itertools.count(1)

Posting = tuple[str, str | None, int]  # account, credit id, signed cents

DEBIT_NORMAL = frozenset({Account.CASH.value, Account.GOODWILL.value})
"""Accounts whose balance is natural when positive (money held, goodwill spent); every
other account is credit-normal (what is owed, or earned)."""
JournalLine = tuple[str, str, datetime, tuple[Posting, ...]]


def rome(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A wall-clock reading in Europe/Rome (first occurrence of a repeated hour)."""
    return datetime(year, month, day, hour, minute, tzinfo=ROME)


def _event(
    event_type: str, time: datetime, data: dict[str, Any], *, id: str | None, currency: str = "EUR"
) -> InboundEvent:
    body = {
        "specversion": "1.0",
        "id": id or f"evt-{next(_event_ids):05d}",
        "source": "billing",
        "type": event_type,
        "time": time.isoformat(),
        "data": data,
    }
    return parse_inbound(body, currency=currency)


def pay(
    order: str,
    customer: str,
    amount: str,
    at: datetime,
    *,
    service: str = "hosting",
    method: str = "card",
    reference: str | None = None,
    id: str | None = None,
    currency: str = "EUR",
) -> InboundEvent:
    """`payment.received` for an order's price (or a top-up when `reference` says so)."""
    data = {
        "order_id": order,
        "customer_id": customer,
        "service": service,
        "amount": amount,
        "currency": currency,
        "paid_at": at.isoformat(),
        "method": method,
        "reference": reference,
    }
    return _event("payment.received", at, data, id=id, currency=currency)


def topup(
    order: str,
    customer: str,
    amount: str,
    at: datetime,
    *,
    reference: str | None = None,
    method: str = "bonifico",
    id: str | None = None,
) -> InboundEvent:
    """A bank transfer quoting `integrazione <order>` (or the `reference` given)."""
    return pay(
        order,
        customer,
        amount,
        at,
        method=method,
        id=id,
        reference=reference if reference is not None else f"integrazione {order}",
    )


def activate(order: str, at: datetime, *, id: str | None = None) -> InboundEvent:
    """`activation.completed`."""
    return _event(
        "activation.completed", at, {"order_id": order, "activated_at": at.isoformat()}, id=id
    )


def fail(order: str, at: datetime, *, id: str | None = None) -> InboundEvent:
    """`activation.failed`."""
    data = {"order_id": order, "failed_at": at.isoformat(), "reason": "provisioning error"}
    return _event("activation.failed", at, data, id=id)


def transfer(
    request: str,
    customer: str,
    order: str,
    amount: str,
    at: datetime,
    *,
    purpose: str = "purchase",
    service: str = "hosting",
    channel: str = "online_form",
    documents: Sequence[str] | None = None,
    credit_ids: Sequence[str] | None = None,
    id: str | None = None,
    currency: str = "EUR",
) -> InboundEvent:
    """`credit.requested` asking to move credit onto new order `order`."""
    data: dict[str, Any] = {
        "request_id": request,
        "customer_id": customer,
        "action": "transfer",
        "channel": channel,
        "requested_at": at.isoformat(),
        "new_order": {
            "order_id": order,
            "amount": amount,
            "currency": currency,
            "purpose": purpose,
            "service": service,
        },
    }
    if documents is not None:
        data["documents"] = list(documents)
    if credit_ids is not None:
        data["credit_ids"] = list(credit_ids)
    return _event("credit.requested", at, data, id=id, currency=currency)


def refund(
    request: str,
    customer: str,
    at: datetime,
    *,
    channel: str = "online_form",
    documents: Sequence[str] | None = None,
    id: str | None = None,
) -> InboundEvent:
    """`credit.requested` asking for the refundable credit to be refunded."""
    data: dict[str, Any] = {
        "request_id": request,
        "customer_id": customer,
        "action": "refund",
        "channel": channel,
        "requested_at": at.isoformat(),
    }
    if documents is not None:
        data["documents"] = list(documents)
    return _event("credit.requested", at, data, id=id)


@dataclass(frozen=True)
class Notification:
    """One outbox row as a consumer will read it."""

    id: str
    type: str
    time: str
    data: dict[str, Any]


@dataclass
class Books:
    """A `Ledger` on a migrated database, and what a test needs to read back."""

    engine: Engine
    policy: Policy = field(default_factory=Policy)
    clock: Callable[[], datetime] | None = None  # the processing clock, for audit only

    def __post_init__(self) -> None:
        if self.clock is None:
            self.ledger = Ledger(self.engine, self.policy)
        else:
            self.ledger = Ledger(self.engine, self.policy, clock=self.clock)

    def under(self, policy: Policy) -> Books:
        """The same database read by a ledger with another policy (R12)."""
        return Books(self.engine, policy)

    def record(self, *events: InboundEvent) -> list[Recorded]:
        """Feed events in the order given; what became of each."""
        return [self.ledger.record(event).outcome for event in events]

    def record_one(self, event: InboundEvent) -> Recorded:
        return self.ledger.record(event).outcome

    def adjust(
        self,
        kind: str,
        customer: str,
        at: datetime,
        *,
        credit_id: str | None = None,
        amount: str | None = None,
        until: datetime | None = None,
        id: str | None = None,
    ) -> Recorded:
        """``residuo adjust KIND``: an operator's correction at business time ``at``."""
        adjustment = Adjustment.model_validate_json(
            json.dumps(
                {
                    "id": id or f"adj-{next(_event_ids):05d}",
                    "type": f"adjustment.{kind}",
                    "time": at.isoformat(),
                    "data": {
                        "customer_id": customer,
                        "credit_id": credit_id,
                        "amount": amount,
                        "until": until.isoformat() if until else None,
                        "operator": "ops@example.it",
                        "reason": "ticket 42",
                    },
                }
            )
        )
        return self.ledger.adjust(adjustment).outcome

    def replay_case(self, name: str) -> list[Recorded | None]:
        """Feed ``cases/<name>.jsonl`` line by line, as ``residuo replay`` would: events
        recorded, sweep lines swept. What became of each event (None for a sweep)."""
        outcomes: list[Recorded | None] = []
        for line in (CASES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            body = json.loads(line)
            if body.get("type") == "sweep":
                self.ledger.sweep(body["kind"], datetime.fromisoformat(body["as_of"]))
                outcomes.append(None)
            else:
                outcomes.append(self.ledger.record(parse_inbound(body)).outcome)
        return outcomes

    def sweep(self, kind: str, as_of: datetime) -> dict[str, dict[str, Any]]:
        """Run a sweep; its `sweep.completed` tallies by kind."""
        tallies = self.ledger.sweep(kind, as_of)
        return {
            name: {"counts": dict(t.counts), "cents": dict(t.cents)} for name, t in tallies.items()
        }

    def notifications(self, *types: str) -> list[Notification]:
        """The outbox in order (only `types`, when given), each validated as on the wire."""
        with self.engine.connect() as connection:
            rows = (
                connection.execute(
                    select(schema.outbox.c.payload).order_by(schema.outbox.c.position)
                )
                .scalars()
                .all()
            )
        found = []
        for payload in rows:
            envelope = json.loads(payload)
            parse_notification(payload)  # every stored notification is a valid one
            if not types or envelope["type"] in types:
                found.append(
                    Notification(
                        envelope["id"], envelope["type"], envelope["time"], envelope["data"]
                    )
                )
        return found

    def data(self, notification_type: str) -> list[dict[str, Any]]:
        """The `data` of every notification of one type, oldest first."""
        return [note.data for note in self.notifications(notification_type)]

    def standing(self, notification_type: str) -> list[dict[str, Any]]:
        """The `data` of a type's notifications that still stand, oldest first: those no
        later notification voided, as a consumer rebuilds the truth from the queue."""
        notes = self.notifications()
        voided = {note.data["voided_id"] for note in notes if "voided_id" in note.data}
        return [
            note.data for note in notes if note.type == notification_type and note.id not in voided
        ]

    def only(self, notification_type: str) -> dict[str, Any]:
        """The `data` of the one notification of a type; fails unless exactly one."""
        found = self.data(notification_type)
        assert len(found) == 1, f"expected one {notification_type}, got {found}"
        return found[0]

    def balance(self, customer: str, as_of: datetime) -> Balance:
        return balance(self.engine, customer, as_of)

    def available(self, customer: str, as_of: datetime) -> int:
        """Usable credit in cents at `as_of` (unexpired, unheld remainders)."""
        return self.balance(customer, as_of).available

    def credit(self, credit_id: str) -> dict[str, Any]:
        """One credit's buckets, in cents."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(schema.credits).where(schema.credits.c.credit_id == credit_id)
            ).one()
        return {
            "granted": row.granted_cents,
            "available": row.available_cents,
            "held": row.held_cents,
            "used": row.used_cents,
            "refunded": row.refunded_cents,
            "forfeited": row.forfeited_cents,
            "origin": row.origin,
            "refundable": row.refundable,
            "expires_at": row.expires_at,
        }

    def journal(self) -> list[JournalLine]:
        """Every entry as (kind, customer, effective_at, postings); see `journal_of`."""
        return journal_of(self.engine)

    def account(self, customer: str, account: Account) -> int:
        """An account's balance in its natural sign (credit-normal accounts positive)."""
        totals = account_totals(self.engine)[customer]
        raw = totals.get(account.value, 0)
        return raw if account.value in DEBIT_NORMAL else -raw


def journal_of(engine: Engine) -> list[JournalLine]:
    """Every entry as (kind, customer, effective_at, postings), sorted: what "the same
    books" means when two databases are compared (ids and recording times left out)."""
    posting = schema.postings.c
    with engine.connect() as connection:
        entries = connection.execute(select(schema.journal_entries)).all()
        lines = connection.execute(
            select(posting.entry_id, posting.account, posting.credit_id, posting.amount_cents)
        ).all()
    by_entry: dict[int, list[tuple[str, str | None, int]]] = defaultdict(list)
    for line in lines:
        by_entry[line.entry_id].append((line.account, line.credit_id, line.amount_cents))
    return sorted(
        (
            row.kind,
            row.customer_id,
            row.effective_at,
            tuple(sorted(by_entry[row.entry_id], key=repr)),
        )
        for row in entries
    )


def account_totals(engine: Engine) -> dict[str, dict[str, int]]:
    """Per customer, the raw (debit-positive) balance of every account."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with engine.connect() as connection:
        for row in connection.execute(
            select(
                schema.postings.c.customer_id,
                schema.postings.c.account,
                schema.postings.c.amount_cents,
            )
        ):
            totals[row.customer_id][row.account] += row.amount_cents
    return totals


# Where credit money sits, by account: the journal's view of the credit buckets.
_BUCKET_ACCOUNTS = {
    "available": Account.CREDIT_AVAILABLE,
    "held": Account.CREDIT_HELD,
    "used": Account.CREDIT_APPLIED,
    "refunded": Account.REFUNDS_PAYABLE,
    "forfeited": Account.BREAKAGE,
}
_BUCKETS = tuple(_BUCKET_ACCOUNTS)


def _credit_ledger_from_postings(
    lines: Iterable[Any],
) -> dict[str, dict[str, int]]:
    """Per credit id: granted and every bucket, as the postings tell them."""
    per_credit: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    account_bucket = {account.value: bucket for bucket, account in _BUCKET_ACCOUNTS.items()}
    for line in lines:
        if line.credit_id is None:
            continue
        if line.account in (Account.ORDER_PREPAYMENTS.value, Account.GOODWILL.value):
            # Granting is the only movement into a credit from prepayments (or, for an
            # operator's goodwill credit, from the goodwill account) (books.py).
            per_credit[line.credit_id]["granted"] += line.amount_cents
        elif line.account in account_bucket:
            per_credit[line.credit_id][account_bucket[line.account]] -= line.amount_cents
        else:
            raise AssertionError(f"credit {line.credit_id} posted to {line.account}")
    return per_credit


def assert_books_balance(engine: Engine) -> None:
    """R11 from the journal: entries balance, buckets and postings agree, nothing negative.

    * every entry has postings and they sum to zero;
    * replayed in the order they were written, no account of any customer ever goes
      below zero in its natural sign (``DEBIT_NORMAL``);
    * per credit and per customer, ``granted = used + held + refunded + forfeited +
      available`` holds both in the ``credits`` buckets and in the account balances of
      the postings, and the two agree, bucket by bucket.
    """
    with engine.connect() as connection:
        entries = connection.execute(
            select(schema.journal_entries.c.entry_id, schema.journal_entries.c.customer_id)
        ).all()
        lines = connection.execute(
            select(schema.postings).order_by(
                schema.postings.c.entry_id, schema.postings.c.posting_id
            )
        ).all()
        credit_rows = connection.execute(select(schema.credits)).all()

    by_entry: dict[int, list[Any]] = defaultdict(list)
    for line in lines:
        by_entry[line.entry_id].append(line)
    for entry in entries:
        postings = by_entry.pop(entry.entry_id, [])
        assert len(postings) >= 2, f"entry {entry.entry_id} has {len(postings)} posting(s)"
        assert sum(p.amount_cents for p in postings) == 0, f"entry {entry.entry_id} unbalanced"
        assert {p.customer_id for p in postings} == {entry.customer_id}
    assert not by_entry, f"postings without an entry: {sorted(by_entry)}"

    running: dict[tuple[str, str], int] = defaultdict(int)
    for entry_id, entry_lines in itertools.groupby(lines, key=lambda line: line.entry_id):
        touched = []
        for line in entry_lines:
            running[(line.customer_id, line.account)] += line.amount_cents
            touched.append((line.customer_id, line.account))
        for customer, account in touched:
            raw = running[(customer, account)]
            natural = raw if account in DEBIT_NORMAL else -raw
            assert natural >= 0, f"{account} of {customer} at {natural} after entry {entry_id}"

    # A credit whose grant a correction reversed (an order activated in time after all)
    # has postings that net to nothing, and no row.
    from_postings = {
        credit_id: buckets
        for credit_id, buckets in _credit_ledger_from_postings(lines).items()
        if any(buckets.values())
    }
    per_customer_buckets: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_customer_postings: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    assert set(from_postings) == {row.credit_id for row in credit_rows}
    for row in credit_rows:
        buckets = {
            "granted": row.granted_cents,
            "available": row.available_cents,
            "held": row.held_cents,
            "used": row.used_cents,
            "refunded": row.refunded_cents,
            "forfeited": row.forfeited_cents,
        }
        posted = {name: from_postings[row.credit_id][name] for name in buckets}
        assert all(value >= 0 for value in buckets.values()), f"{row.credit_id}: {buckets}"
        assert buckets["granted"] == sum(buckets[name] for name in _BUCKETS), buckets
        assert posted == buckets, f"{row.credit_id}: buckets {buckets} but postings {posted}"
        for name, value in buckets.items():
            per_customer_buckets[row.customer_id][name] += value
        for name, value in posted.items():
            per_customer_postings[row.customer_id][name] += value

    totals = account_totals(engine)
    for customer, buckets in per_customer_buckets.items():
        assert buckets["granted"] == sum(buckets[name] for name in _BUCKETS)
        accounts = totals[customer]
        from_accounts = {
            name: -accounts.get(account.value, 0) for name, account in _BUCKET_ACCOUNTS.items()
        }
        assert from_accounts == {name: buckets[name] for name in _BUCKETS}, customer
        assert per_customer_postings[customer] == buckets


def assert_books_never_negative_in_business_time(engine: Engine) -> None:
    """R11 at every business instant: the journal read by effective time (reversals and
    corrections included, as they net out at the instants they are dated) never shows
    an account of a customer below zero in its natural sign."""
    entry, posting = schema.journal_entries.c, schema.postings.c
    with engine.connect() as connection:
        lines = connection.execute(
            select(entry.effective_at, posting.customer_id, posting.account, posting.amount_cents)
            .join(schema.journal_entries, entry.entry_id == posting.entry_id)
            .order_by(entry.effective_at)
        ).all()
    running: dict[tuple[str, str], int] = defaultdict(int)
    for instant, instant_lines in itertools.groupby(lines, key=lambda line: line.effective_at):
        touched = set()
        for line in instant_lines:
            running[(line.customer_id, line.account)] += line.amount_cents
            touched.add((line.customer_id, line.account))
        for customer, account in touched:
            raw = running[(customer, account)]
            natural = raw if account in DEBIT_NORMAL else -raw
            assert natural >= 0, f"{account} of {customer} at {natural} at {instant}"
