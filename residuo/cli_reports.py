"""``residuo report``: the finance figures (``ledger.reports``), read-only.

Each report prints a table, ``--json`` one document or ``--csv`` its lines, and exits
with status 1 if its totals do not restate the journal's balances (printed anyway).
Each reads the books as written by ``--known-at`` (default: the moment it reads them,
which the table and the document state), so a figure already booked can be read again.
Registered on the app by ``residuo.cli``.
"""

import json
import re
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from ledger import reports
from ledger.calendar import representable
from residuo.bootstrap import wall_clock
from residuo.cli_support import (
    CALENDAR,
    AsJson,
    AsOf,
    KnownAt,
    fail,
    load_settings,
    open_runtime,
    parse_as_of,
    parse_known_at,
)
from residuo.report_views import (
    breakage_csv,
    breakage_document,
    breakage_table,
    liability_csv,
    liability_document,
    liability_table,
)

__all__ = ["report_app"]

report_app = typer.Typer(help="Finance reports, read from the journal.", no_args_is_help=True)

AsCsv = Annotated[bool, typer.Option("--csv", help="Print the lines as CSV, with a header.")]

_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@report_app.command("breakage")
def breakage(
    month: Annotated[
        str, typer.Option("--month", metavar="YYYY-MM", help="The month, in business time.")
    ],
    known_at: KnownAt = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Credit forfeited to the provider (R4) in a month, by origin and entry kind."""
    _one_format(as_json, as_csv)
    recorded = _recorded(known_at)
    settings = load_settings()
    start, end = _month_bounds(month, settings.policy.zone)
    with open_runtime(settings) as runtime:
        report = reports.breakage(runtime.engine, start, end, known_at=recorded)
    if as_json:
        typer.echo(json.dumps(breakage_document(month, report, settings.policy), indent=2))
    elif as_csv:
        typer.echo(breakage_csv(report), nl=False)
    else:
        Console().print(breakage_table(month, report, settings.policy))
    if not report.reconciled:
        raise typer.Exit(1)


@report_app.command("liability")
def liability(
    as_of: AsOf = None, known_at: KnownAt = None, as_json: AsJson = False, as_csv: AsCsv = False
) -> None:
    """Credit owed to customers (available and held) at an instant, by expiry month and
    origin."""
    _one_format(as_json, as_csv)
    instant, recorded = parse_as_of(as_of), _recorded(known_at)
    settings = load_settings()
    with open_runtime(settings) as runtime:
        report = reports.liability(runtime.engine, instant, settings.policy.zone, known_at=recorded)
    if as_json:
        typer.echo(json.dumps(liability_document(report, settings.policy), indent=2))
    elif as_csv:
        typer.echo(liability_csv(report), nl=False)
    else:
        Console().print(liability_table(report, settings.policy))
    if not report.reconciled:
        raise typer.Exit(1)


def _month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of ``month`` (YYYY-MM) in ``zone`` and of the month after it,
    or a one-line error if either is not a date residuo can compute with."""
    found = _MONTH.fullmatch(month)
    if found is None:
        fail(f"--month {month!r} must be YYYY-MM, e.g. 2026-03")
    year, number = int(found[1]), int(found[2])
    outside = f"--month {month} is outside the calendar residuo computes in: {CALENDAR}"
    try:
        start = datetime(year, number, 1, tzinfo=zone)
        end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    except ValueError:  # year 0, or the month after 9999-12
        fail(outside)
    if not (representable(start) and representable(end)):
        fail(outside)
    return start, end


def _recorded(known_at: str | None) -> datetime:
    """``--known-at``, or the moment of reading: stated in the output, so that running
    the report again with it gives the same figures however the books are corrected."""
    return parse_known_at(known_at) or wall_clock()


def _one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        fail("--json and --csv: choose one")
