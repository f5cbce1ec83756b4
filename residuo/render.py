"""How the read models look: rich tables for people, one JSON document for machines.

Amounts are cents in the books and decimal strings here (``"49.90"``); instants are
shown in the business time zone, where the rules read them. What the books hold from
upstream (ids, memos) is printed through ``residuo.printable``.
"""

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from ledger.money import cents_to_decimal
from ledger.policy import Policy
from ledger.queries import Balance, StatementLine
from ledger.sweeps import SweepTally
from residuo.narration import local_time
from residuo.printable import shown

__all__ = [
    "balance_document",
    "balance_table",
    "statement_document",
    "statement_table",
    "sweep_table",
]

_ORIGINS = {"activation_failed": "failed activation", "spid_timeout": "SPID timeout"}


def _amount(cents: int) -> str:
    return str(cents_to_decimal(cents))


def balance_document(balance: Balance, policy: Policy) -> dict[str, Any]:
    """``residuo balance --json``: the available total and every credit."""
    return {
        "customer_id": balance.customer_id,
        "as_of": balance.as_of.astimezone(policy.zone).isoformat(),
        "currency": policy.currency,
        "available": _amount(balance.available),
        "credits": [
            {
                "credit_id": line.credit_id,
                "origin": line.origin,
                "source_order_id": line.source_order_id,
                "granted": _amount(line.granted),
                "remaining": _amount(line.remaining),
                "held": _amount(line.held),
                "used": _amount(line.used),
                "refunded": _amount(line.refunded),
                "forfeited": _amount(line.forfeited),
                "expires_at": line.expires_at.astimezone(policy.zone).isoformat(),
                "refundable": line.refundable,
                "status": line.status,
            }
            for line in balance.credits
        ],
    }


def balance_table(balance: Balance, policy: Policy) -> Table:
    """``residuo balance``: one row per credit, soonest-expiring first.

    The source order is not a column: it is in the credit id (``CR-<order>``), and the
    table must fit an 80-column terminal.
    """
    table = Table(
        title=shown(
            f"{balance.customer_id}: {_amount(balance.available)} {policy.currency} available"
        ),
        caption=f"at {local_time(balance.as_of, policy)} ({policy.business_timezone})",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("Credit", no_wrap=True)
    table.add_column("Origin", min_width=10)
    for heading in ("Granted", "Remaining", "Held"):
        table.add_column(heading, justify="right", no_wrap=True)
    table.add_column("Expires", min_width=10)
    table.add_column("Status", no_wrap=True)
    for line in balance.credits:
        origin = _ORIGINS.get(line.origin, line.origin)
        table.add_row(
            shown(line.credit_id),
            shown(f"{origin}, refundable" if line.refundable else origin),
            _amount(line.granted),
            _amount(line.remaining),
            _amount(line.held),
            local_time(line.expires_at, policy),
            shown(line.status),
        )
    return table


def statement_document(
    customer_id: str, lines: list[StatementLine], policy: Policy
) -> dict[str, Any]:
    """``residuo statement --json``: every entry, postings signed (debit positive)."""
    return {
        "customer_id": customer_id,
        "currency": policy.currency,
        "entries": [
            {
                "entry_id": line.entry_id,
                "kind": line.kind,
                "effective_at": line.effective_at.astimezone(policy.zone).isoformat(),
                "recorded_at": line.recorded_at.astimezone(policy.zone).isoformat(),
                "reverses_entry_id": line.reverses_entry_id,
                "correction_id": line.correction_id,
                "memo": line.memo,
                "order_id": line.order_id,
                "credit_id": line.credit_id,
                "postings": [
                    {"account": account, "credit_id": credit_id, "amount": _amount(cents)}
                    for account, credit_id, cents in line.postings
                ],
            }
            for line in lines
        ],
    }


def statement_table(customer_id: str, lines: list[StatementLine], policy: Policy) -> Table:
    """``residuo statement``: one row per entry, money moving from Credit to Debit; when
    it happened, when the books learnt it, and which correction changed it."""
    # A history corrected later shows which entry is which and when each was booked;
    # one never corrected reads as before.
    corrected = any(line.correction_id is not None for line in lines)
    caption = f"times in {policy.business_timezone}; oldest first"
    if corrected:
        caption += "; #n: entry n, Cn: booked by correction n"
    table = Table(
        title=shown(f"Statement of {customer_id} ({policy.currency})"),
        caption=caption,
        title_justify="left",
        caption_justify="left",
    )
    if corrected:
        table.add_column("#", justify="right", no_wrap=True)
    table.add_column("When", no_wrap=True)
    if corrected:
        table.add_column("Booked", no_wrap=True)
    table.add_column("What")
    table.add_column("Debit")
    table.add_column("Credit")
    table.add_column("Amount", justify="right", no_wrap=True)
    for line in lines:
        debits = [account for account, _, cents in line.postings if cents > 0]
        credits = [account for account, _, cents in line.postings if cents < 0]
        moved = sum(cents for _, _, cents in line.postings if cents > 0)
        which = str(line.entry_id) + (f" C{line.correction_id}" if line.correction_id else "")
        booked = local_time(line.recorded_at, policy)
        when = local_time(line.effective_at, policy)
        table.add_row(
            *([which, when, booked] if corrected else [when]),
            shown(line.memo),
            "\n".join(debits),
            "\n".join(credits),
            _amount(moved),
        )
    return table


def sweep_table(tallies: Mapping[str, SweepTally], policy: Policy) -> Table:
    """``residuo sweep``: what each sweep did, by outcome."""
    table = Table(title="Sweeps", title_justify="left")
    table.add_column("Sweep", no_wrap=True)
    table.add_column("Outcome")
    table.add_column("Count", justify="right")
    table.add_column(f"Amount ({policy.currency})", justify="right")
    for kind, tally in tallies.items():
        if not tally.counts:
            table.add_row(kind, "nothing due", "0", "")
        for outcome, count in sorted(tally.counts.items()):
            cents = tally.cents.get(outcome)
            table.add_row(kind, outcome, str(count), "" if cents is None else _amount(cents))
    return table
