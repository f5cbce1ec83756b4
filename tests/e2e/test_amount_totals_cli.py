"""Totals above the largest amount one event may carry, through the command line: a
replayed story of two credits of 999,999,999,999.99, its notifications, and the
``--json`` documents of ``balance`` and ``report`` (a variant of
``scenarios/test_attack9_amount_totals.py``)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

RESIDUO = Path(sys.executable).with_name("residuo")
CUSTOMER = "1234567@aruba.it"
LARGEST = "999999999999.99"
LEFT = "1999999999999.97"  # two largest credits less the cent a transfer took


def event(number: int, event_type: str, time: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"evt-{number}",
        "source": "billing",
        "type": event_type,
        "time": time,
        "data": data,
    }


def story() -> list[dict[str, Any]]:
    paid, failed, requested = (
        "2026-01-10T09:30:00+01:00",
        "2026-01-11T10:00:00+01:00",
        "2026-01-12T10:00:00+01:00",
    )
    lines = []
    for number, order in enumerate(("MI0001", "MI0002")):
        payment = {
            "order_id": order,
            "customer_id": CUSTOMER,
            "service": "hosting",
            "amount": LARGEST,
            "currency": "EUR",
            "paid_at": paid,
            "method": "card",
        }
        lines.append(event(2 * number, "payment.received", paid, payment))
        failure = {"order_id": order, "failed_at": failed}
        lines.append(event(2 * number + 1, "activation.failed", failed, failure))
    new_order = {
        "order_id": "MI0003",
        "amount": "0.01",
        "currency": "EUR",
        "purpose": "purchase",
        "service": "hosting",
    }
    request = {
        "request_id": "REQ-1",
        "customer_id": CUSTOMER,
        "action": "transfer",
        "channel": "online_form",
        "requested_at": requested,
        "new_order": new_order,
    }
    lines.append(event(9, "credit.requested", requested, request))
    lines.append({"type": "sweep", "kind": "expiry", "as_of": "2027-01-11T04:30:00+01:00"})
    return lines


def run(tmp_path: Path, *arguments: str) -> Any:
    """Run ``residuo`` on a SQLite file of ``tmp_path``; its JSON output (or None)."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("RESIDUO_")
    }
    environment["RESIDUO_DATABASE_URL"] = f"sqlite:///{tmp_path / 'books.sqlite3'}"
    result = subprocess.run(
        [str(RESIDUO), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in arguments else None


def test_the_cli_tells_and_reports_totals_above_the_largest_amount(tmp_path: Path) -> None:
    """The transfer is applied and the expiry sweep completes, each saying what is left
    or forfeited to the cent; `balance --json`, `report liability --json` and `report
    breakage --json` give the same figure and reconcile with the journal."""
    replayed = tmp_path / "story.jsonl"
    replayed.write_text("".join(json.dumps(line) + "\n" for line in story()), encoding="utf-8")
    out = tmp_path / "notifications.jsonl"

    run(tmp_path, "replay", str(replayed), "--out", str(out))
    before = "2026-06-01T00:00:00+02:00"
    customer = run(tmp_path, "balance", CUSTOMER, "--as-of", before, "--json")
    owed = run(tmp_path, "report", "liability", "--as-of", before, "--json")
    forfeited = run(tmp_path, "report", "breakage", "--month", "2027-01", "--json")

    told = {each["type"]: each["data"] for each in map(json.loads, out.read_text().splitlines())}
    assert told["credit.applied"]["available_after"] == LEFT
    assert told["sweep.completed"]["amounts"] == {"forfeited": LEFT}
    assert customer["available"] == LEFT
    assert (owed["total"]["available"], owed["journal"]["reconciled"]) == (LEFT, True)
    assert (forfeited["total"], forfeited["journal"]["reconciled"]) == (LEFT, True)
