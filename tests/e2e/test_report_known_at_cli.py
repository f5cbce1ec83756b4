"""``residuo report … --known-at R`` as a user runs it: a month closed, then a late
event reverses its forfeiture; the figures known at the close can still be printed, and
every report says which recorded time it read the books as of. SQLite, no servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from e2e.test_cli import run

pytestmark = pytest.mark.e2e

CUSTOMER = "1234567@aruba.it"
PAID_AT = "2025-01-10T09:30:00+01:00"
FAILED_AT = "2025-01-11T10:00:00+01:00"
EXPIRED_AT = "2026-01-10T09:30:00+01:00"
REQUESTED_AT = "2026-01-05T10:00:00+01:00"


def event(number: int, event_type: str, time: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"evt-{number}",
        "source": "billing",
        "type": event_type,
        "time": time,
        "data": data,
    }


def replay(tmp_path: Path, name: str, *lines: dict[str, Any]) -> None:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = run(tmp_path, "replay", str(path))
    assert result.returncode == 0, result.stderr


def close_january_then_reverse_its_forfeiture(tmp_path: Path) -> str:
    """CR-MI0001 (49.90) is forfeited on 10 January 2026; then a transfer requested on
    5 January arrives and uses it, reversing the forfeiture. The recorded time between
    the two, as ``--known-at`` takes it."""
    payment = {
        "order_id": "MI0001",
        "customer_id": CUSTOMER,
        "service": "hosting",
        "amount": "49.90",
        "currency": "EUR",
        "paid_at": PAID_AT,
        "method": "card",
    }
    replay(
        tmp_path,
        "january.jsonl",
        event(1, "payment.received", PAID_AT, payment),
        event(2, "activation.failed", FAILED_AT, {"order_id": "MI0001", "failed_at": FAILED_AT}),
        {"type": "sweep", "kind": "expiry", "as_of": EXPIRED_AT},
    )
    # Read after the replay has exited: later than every entry it recorded.
    closed = datetime.now(UTC).isoformat()
    request = {
        "request_id": "REQ-1",
        "customer_id": CUSTOMER,
        "action": "transfer",
        "channel": "online_form",
        "requested_at": REQUESTED_AT,
        "new_order": {
            "order_id": "MI0100",
            "amount": "49.90",
            "currency": "EUR",
            "purpose": "purchase",
            "service": "hosting",
        },
    }
    replay(tmp_path, "late.jsonl", event(3, "credit.requested", REQUESTED_AT, request))
    return closed


def test_reports_known_at_the_close_print_what_the_books_said_then(tmp_path: Path) -> None:
    """Known at the close, January's breakage is the forfeiture of 49.90 and 49.90 was
    owed on 7 January; by default (now) the forfeiture is reversed and nothing was owed,
    and the ``known_at`` the report states prints the same figures again."""
    closed = close_january_then_reverse_its_forfeiture(tmp_path)

    then = run(tmp_path, "report", "breakage", "--month", "2026-01", "--known-at", closed, "--json")
    now = run(tmp_path, "report", "breakage", "--month", "2026-01", "--json")
    owed = ("report", "liability", "--as-of", "2026-01-07T00:00:00+01:00")
    owed_then = run(tmp_path, *owed, "--known-at", closed, "--csv")
    owed_then_table = run(tmp_path, *owed, "--known-at", closed)
    owed_now = run(tmp_path, *owed, "--json")

    assert then.returncode == 0, then.stderr
    document = json.loads(then.stdout)
    assert datetime.fromisoformat(document["known_at"]) == datetime.fromisoformat(closed)
    assert document["known_at"].endswith("+01:00")  # told in the business time zone
    assert document["lines"] == [
        {"origin": "activation_failed", "kind": "credit_forfeited", "credits": 1, "amount": "49.90"}
    ]
    assert document["journal"] == {"breakage": "49.90", "reconciled": True}
    current = json.loads(now.stdout)
    assert (current["total"], current["journal"]["reconciled"]) == ("0.00", True)
    assert {line["kind"]: line["amount"] for line in current["lines"]} == {
        "credit_forfeited": "49.90",
        "reversal": "-49.90",
    }
    assert datetime.fromisoformat(current["known_at"]) > datetime.fromisoformat(closed)
    again = run(
        tmp_path, "report", "breakage", "--month", "2026-01", "--known-at", current["known_at"]
    )
    assert again.returncode == 0, again.stderr
    assert "-49.90" in again.stdout
    assert owed_then.stdout == (
        "expiry_month,origin,credits,available,held,outstanding\n"
        "2026-01,activation_failed,1,49.90,0.00,49.90\n"
    )
    assert "As recorded by" in owed_then_table.stdout
    assert "reconciles with the journal" in owed_then_table.stdout
    liability = json.loads(owed_now.stdout)
    assert (liability["lines"], liability["total"]["outstanding"]) == ([], "0.00")
    assert datetime.fromisoformat(liability["known_at"]) > datetime.fromisoformat(closed)


@pytest.mark.parametrize("report", [("breakage", "--month", "2026-01"), ("liability",)])
@pytest.mark.parametrize(
    ("known_at", "error"),
    [
        (
            "2026-02-01",
            "residuo: error: --known-at '2026-02-01' must be ISO 8601 with an offset, "
            "e.g. 2026-03-01T00:00:00+01:00",
        ),
        (
            "9999-12-31T23:30:00+00:00",
            "residuo: error: --known-at 9999-12-31T23:30:00+00:00 is outside the calendar "
            "residuo computes in: 0001-01-02T00:00:00+00:00 to 9999-12-30T00:00:00+00:00 "
            "(years 1 to 9999, a day's margin at each end)",
        ),
    ],
)
def test_a_bad_known_at_is_a_one_line_error(
    tmp_path: Path, report: tuple[str, ...], known_at: str, error: str
) -> None:
    """A recorded time without an offset, or outside the calendar, is refused in one
    line with exit status 2, before the database is opened."""
    result = run(tmp_path, "report", *report, "--known-at", known_at)

    assert (result.returncode, result.stderr, result.stdout) == (2, error + "\n", "")
    assert not (tmp_path / "books.sqlite3").exists()
