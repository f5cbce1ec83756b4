"""How ``residuo report`` shows the finance reports: a table, one JSON document, or CSV.

Amounts are decimal strings (``"49.90"``) in the configured currency. The table's
caption and the JSON document's ``journal`` say whether the totals restate the
journal's balances; CSV holds the lines only (a spreadsheet sums them), one header
row first. The table's caption and the document's ``known_at`` give the recorded time the
books were read as of (``null`` when every entry counted, which the command line never
asks for).
"""

import csv
import io
from datetime import datetime
from typing import Any

from rich.table import Table

from ledger.money import cents_to_decimal
from ledger.policy import Policy
from ledger.reports import BreakageReport, LiabilityReport

__all__ = [
    "breakage_csv",
    "breakage_document",
    "breakage_table",
    "liability_csv",
    "liability_document",
    "liability_table",
]

_BREAKAGE_COLUMNS = ("origin", "kind", "credits", "amount")
_LIABILITY_COLUMNS = ("expiry_month", "origin", "credits", "available", "held", "outstanding")


def _amount(cents: int) -> str:
    return str(cents_to_decimal(cents))


def _known_at(known_at: datetime | None, policy: Policy) -> str | None:
    return None if known_at is None else known_at.astimezone(policy.zone).isoformat()


def _breakage_rows(report: BreakageReport) -> list[dict[str, Any]]:
    return [
        {
            "origin": line.origin,
            "kind": line.kind,
            "credits": line.credits,
            "amount": _amount(line.cents),
        }
        for line in report.lines
    ]


def _liability_rows(report: LiabilityReport) -> list[dict[str, Any]]:
    return [
        {
            "expiry_month": line.expiry_month,
            "origin": line.origin,
            "credits": line.credits,
            "available": _amount(line.available_cents),
            "held": _amount(line.held_cents),
            "outstanding": _amount(line.outstanding_cents),
        }
        for line in report.lines
    ]


def breakage_document(month: str, report: BreakageReport, policy: Policy) -> dict[str, Any]:
    """``residuo report breakage --json``."""
    return {
        "report": "breakage",
        "month": month,
        "from": report.start.astimezone(policy.zone).isoformat(),
        "until": report.end.astimezone(policy.zone).isoformat(),
        "known_at": _known_at(report.known_at, policy),
        "currency": policy.currency,
        "lines": _breakage_rows(report),
        "total": _amount(report.total_cents),
        "journal": {"breakage": _amount(report.journal_cents), "reconciled": report.reconciled},
    }


def liability_document(report: LiabilityReport, policy: Policy) -> dict[str, Any]:
    """``residuo report liability --json``."""
    return {
        "report": "liability",
        "as_of": report.as_of.astimezone(policy.zone).isoformat(),
        "known_at": _known_at(report.known_at, policy),
        "currency": policy.currency,
        "lines": _liability_rows(report),
        "total": {
            "available": _amount(report.available_cents),
            "held": _amount(report.held_cents),
            "outstanding": _amount(report.outstanding_cents),
        },
        "journal": {
            "credit_available": _amount(report.journal_available_cents),
            "credit_held": _amount(report.journal_held_cents),
            "reconciled": report.reconciled,
        },
    }


def breakage_csv(report: BreakageReport) -> str:
    """``residuo report breakage --csv``."""
    return _csv(_BREAKAGE_COLUMNS, _breakage_rows(report))


def liability_csv(report: LiabilityReport) -> str:
    """``residuo report liability --csv``."""
    return _csv(_LIABILITY_COLUMNS, _liability_rows(report))


def breakage_table(month: str, report: BreakageReport, policy: Policy) -> Table:
    """``residuo report breakage``: a line per origin and entry kind, and the total."""
    table = Table(
        title=f"Breakage in {month} ({policy.business_timezone}), {policy.currency}",
        title_justify="left",
        caption=_caption(
            report.known_at, policy, report.reconciled, f"breakage {_amount(report.journal_cents)}"
        ),
        caption_justify="left",
    )
    for column in _BREAKAGE_COLUMNS:
        table.add_column(column, justify="right" if column in {"credits", "amount"} else "left")
    for row in _breakage_rows(report):
        table.add_row(*(str(row[column]) for column in _BREAKAGE_COLUMNS))
    table.add_section()
    credits = sum(line.credits for line in report.lines)
    table.add_row("total", "", str(credits), _amount(report.total_cents))
    return table


def liability_table(report: LiabilityReport, policy: Policy) -> Table:
    """``residuo report liability``: a line per expiry month and origin, and the total."""
    as_of = report.as_of.astimezone(policy.zone).isoformat()
    journal = (
        f"credit_available {_amount(report.journal_available_cents)}, "
        f"credit_held {_amount(report.journal_held_cents)}"
    )
    table = Table(
        title=f"Credit owed to customers at {as_of}, {policy.currency}",
        title_justify="left",
        caption=_caption(report.known_at, policy, report.reconciled, journal),
        caption_justify="left",
    )
    for column in _LIABILITY_COLUMNS:
        numeric = column not in {"expiry_month", "origin"}
        table.add_column(column.replace("_", " "), justify="right" if numeric else "left")
    for row in _liability_rows(report):
        table.add_row(*(str(row[column]) for column in _LIABILITY_COLUMNS))
    table.add_section()
    table.add_row(
        "total",
        "",
        str(sum(line.credits for line in report.lines)),
        _amount(report.available_cents),
        _amount(report.held_cents),
        _amount(report.outstanding_cents),
    )
    return table


def _caption(known_at: datetime | None, policy: Policy, reconciled: bool, journal: str) -> str:
    """Which entries the table counted, then whether its total restates the journal."""
    shown = _known_at(known_at, policy)
    read = "Every entry recorded." if shown is None else f"As recorded by {shown}."
    verdict = "reconciles with" if reconciled else "DOES NOT reconcile with"
    return f"{read}\nThe total {verdict} the journal: {journal}."


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
