"""The ``residuo`` command as a user runs it: a process, its output and its exit status."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

RESIDUO = Path(sys.executable).with_name("residuo")

PAID_AT = "2026-01-10T09:30:00+01:00"
FAILED_AT = "2026-01-11T10:00:00+01:00"
EVENTS: list[dict[str, Any]] = [
    {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "billing",
        "type": "payment.received",
        "time": PAID_AT,
        "data": {
            "order_id": "MI0001",
            "customer_id": "1234567@aruba.it",
            "service": "hosting",
            "amount": "49.90",
            "currency": "EUR",
            "paid_at": PAID_AT,
            "method": "card",
        },
    },
    {
        "specversion": "1.0",
        "id": "evt-2",
        "source": "billing",
        "type": "activation.failed",
        "time": FAILED_AT,
        "data": {"order_id": "MI0001", "failed_at": FAILED_AT},
    },
]
SWEEP = {"type": "sweep", "kind": "expiry", "as_of": "2027-01-10T10:00:00+01:00"}
AFTER_EXPIRY = "2027-02-01T00:00:00+01:00"


def run(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("RESIDUO_")
    }
    environment |= {
        "RESIDUO_DATABASE_URL": f"sqlite:///{tmp_path / 'books.sqlite3'}",
        "COLUMNS": "100",
    }
    return subprocess.run(
        [str(RESIDUO), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def write_replay_file(tmp_path: Path) -> Path:
    lines = [json.dumps(EVENTS[0]), json.dumps(EVENTS[1]), "{not json", json.dumps(SWEEP)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_demo_tells_the_story_and_ends_with_the_balances(tmp_path: Path) -> None:
    """``residuo demo`` runs in one process, needs nothing, and shows final balances."""
    result = run(tmp_path, "demo")

    assert result.returncode == 0, result.stderr
    assert "Timeline" in result.stdout
    assert "Final balances" in result.stdout
    assert "luca@example.it: 19.99 EUR available" in result.stdout
    assert result.stderr == ""
    assert not (tmp_path / "books.sqlite3").exists()


def test_replay_writes_every_notification_in_order(tmp_path: Path) -> None:
    """Events and sweeps go through the actors in file order; a bad line is reported
    to ops (``event.rejected``) and on stderr, and the replay goes on."""
    result = run(tmp_path, "replay", str(write_replay_file(tmp_path)))

    assert result.returncode == 0, result.stderr
    notifications = [json.loads(line) for line in result.stdout.splitlines()]
    assert [each["type"] for each in notifications] == [
        "credit.granted",
        "event.rejected",
        "credit.expired",
        "sweep.completed",
    ]
    assert notifications[1]["data"]["reason"] == "bad_json"
    assert "line 3: rejected, dead-lettered: bad_json" in result.stderr


def test_replay_can_write_to_a_file(tmp_path: Path) -> None:
    """``--out`` takes the notifications; stdout stays empty."""
    out = tmp_path / "notifications.jsonl"

    result = run(tmp_path, "replay", str(write_replay_file(tmp_path)), "--out", str(out))

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4


def test_replay_of_a_missing_file_fails_in_one_line(tmp_path: Path) -> None:
    """Unusable input is the one thing that stops a replay."""
    result = run(tmp_path, "replay", "missing.jsonl")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "residuo: error: cannot read missing.jsonl: No such file or directory"
    ]


def test_balance_as_json_is_one_document_with_decimal_strings(tmp_path: Path) -> None:
    """``--json`` prints one JSON document; amounts are strings, never numbers."""
    run(tmp_path, "replay", str(write_replay_file(tmp_path)))

    # The replayed story runs past its expiry; --as-of pins the view after it.
    result = run(tmp_path, "balance", "1234567@aruba.it", "--as-of", AFTER_EXPIRY, "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["as_of"] == AFTER_EXPIRY
    assert document["available"] == "0.00"
    (credit,) = document["credits"]
    assert credit["credit_id"] == "CR-MI0001"
    buckets = (credit["granted"], credit["remaining"], credit["forfeited"])
    assert buckets == ("49.90", "0.00", "49.90")
    assert credit["status"] == "expired"
    assert credit["expires_at"] == "2027-01-10T09:30:00+01:00"


def test_balance_as_of_an_earlier_instant_shows_the_credit_before_its_expiry(
    tmp_path: Path,
) -> None:
    """The replay has swept the credit away, yet the day before its expiry it was there."""
    run(tmp_path, "replay", str(write_replay_file(tmp_path)))

    result = run(
        tmp_path, "balance", "1234567@aruba.it", "--as-of", "2027-01-09T00:00:00+01:00", "--json"
    )

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["available"] == "49.90"
    (credit,) = document["credits"]
    assert (credit["remaining"], credit["forfeited"], credit["status"]) == (
        "49.90",
        "0.00",
        "available",
    )


def test_statement_as_json_lists_entries_oldest_first(tmp_path: Path) -> None:
    """Each entry's postings balance, debit positive."""
    run(tmp_path, "replay", str(write_replay_file(tmp_path)))

    result = run(tmp_path, "statement", "1234567@aruba.it", "--json")

    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)["entries"]
    assert [entry["kind"] for entry in entries] == [
        "order_paid",
        "credit_granted",
        "credit_forfeited",
    ]
    for entry in entries:
        assert sum(Decimal(posting["amount"]) for posting in entry["postings"]) == 0


def test_adjust_reinstates_what_expired_and_the_statement_says_who_and_when(
    tmp_path: Path,
) -> None:
    """An operator reinstates the forfeited credit with a new expiry: it is usable again,
    the statement shows the entry booked, and a refund of more than is there is refused
    with nothing booked."""
    run(tmp_path, "replay", str(write_replay_file(tmp_path)))

    booked = run(
        tmp_path,
        *("adjust", "reinstate", "CR-MI0001", "--customer", "1234567@aruba.it"),
        *("--amount", "49.90", "--until", "2027-06-01T00:00:00+02:00"),
        # The replay's books run into 2027, past the clock: the default --at, the
        # watermark, is never later than the clock.
        *("--at", "2027-02-01T00:00:00+01:00"),
        *("--operator", "anna", "--reason", "ticket 4711", "--json"),
    )
    refused = run(
        tmp_path,
        *("adjust", "void", "CR-MI0001", "--customer", "1234567@aruba.it"),
        *("--amount", "60.00", "--operator", "anna", "--reason", "typo"),
    )

    assert booked.returncode == 0, booked.stderr
    assert json.loads(booked.stdout)["type"] == "adjustment.reinstate"
    assert refused.returncode == 2
    assert refused.stderr.startswith("residuo: error: refused, nothing booked:")
    balance = json.loads(run(tmp_path, "balance", "1234567@aruba.it", "--json").stdout)
    assert balance["credits"][0]["remaining"] == "49.90"
    entries = json.loads(run(tmp_path, "statement", "1234567@aruba.it", "--json").stdout)["entries"]
    assert entries[-1]["kind"] == "credit_reinstated"
    assert "anna: ticket 4711" in entries[-1]["memo"]
    assert all(entry["recorded_at"] for entry in entries)


def test_statement_known_at_shows_what_the_books_said_then(tmp_path: Path) -> None:
    """``--known-at`` before anything was booked lists nothing; now, everything."""
    run(tmp_path, "replay", str(write_replay_file(tmp_path)))

    before = run(
        tmp_path, "statement", "1234567@aruba.it", "--known-at", "2000-01-01T00:00:00+00:00"
    )

    assert before.returncode == 0, before.stderr
    assert "no ledger entries" in before.stdout


def test_sweep_with_a_naive_as_of_fails_clearly(tmp_path: Path) -> None:
    """A time without an offset is ambiguous: refused in one line, exit status 2."""
    result = run(tmp_path, "sweep", "expiry", "--as-of", "2026-03-01T00:00:00")

    assert result.returncode == 2
    (message,) = result.stderr.strip().splitlines()
    assert message.startswith("residuo: error: --as-of '2026-03-01T00:00:00' must be ISO 8601")
    assert "offset" in message


def test_sweep_in_the_future_is_refused_and_settles_nothing(tmp_path: Path) -> None:
    """Forfeiting credit before its expiry would take what the customer may still use."""
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(event) + "\n" for event in EVENTS), encoding="utf-8")
    assert run(tmp_path, "replay", str(events)).returncode == 0

    result = run(tmp_path, "sweep", "expiry", "--as-of", "2999-01-01T00:00:00+01:00")

    assert result.returncode == 2
    assert "in the future" in result.stderr
    statement = json.loads(run(tmp_path, "statement", "1234567@aruba.it", "--json").stdout)
    assert [entry["kind"] for entry in statement["entries"]] == ["order_paid", "credit_granted"]


def test_sweep_of_an_unknown_kind_fails_clearly(tmp_path: Path) -> None:
    """The known kinds are named in the error."""
    result = run(tmp_path, "sweep", "daily")

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "residuo: error: unknown sweep kind 'daily'; known: all, spid_timeout, holds, expiry, "
        "reminders"
    )


def test_migrate_brings_the_schema_to_head(tmp_path: Path) -> None:
    """The database file is created and the revision printed; running it twice is harmless."""
    first = run(tmp_path, "migrate")
    second = run(tmp_path, "migrate")

    assert (first.returncode, second.returncode) == (0, 0)
    assert "schema at revision" in second.stdout


def test_report_breakage_prints_a_table_json_and_csv_that_reconcile(tmp_path: Path) -> None:
    """The credit forfeited on 10 January 2027 is January's breakage, in every format;
    February has none."""
    run(tmp_path, "replay", str(write_replay_file(tmp_path)))

    table = run(tmp_path, "report", "breakage", "--month", "2027-01")
    document = run(tmp_path, "report", "breakage", "--month", "2027-01", "--json")
    rows = run(tmp_path, "report", "breakage", "--month", "2027-01", "--csv")
    february = run(tmp_path, "report", "breakage", "--month", "2027-02", "--json")

    assert table.returncode == 0, table.stderr
    assert "reconciles with the journal: breakage 49.90" in table.stdout
    report = json.loads(document.stdout)
    assert report["lines"] == [
        {"origin": "activation_failed", "kind": "credit_forfeited", "credits": 1, "amount": "49.90"}
    ]
    assert report["total"] == "49.90"
    assert report["journal"] == {"breakage": "49.90", "reconciled": True}
    assert report["from"] == "2027-01-01T00:00:00+01:00"
    assert rows.stdout == "origin,kind,credits,amount\nactivation_failed,credit_forfeited,1,49.90\n"
    assert json.loads(february.stdout)["lines"] == []


def test_report_liability_shows_credit_owed_at_an_instant(tmp_path: Path) -> None:
    """Before its expiry the credit is owed, by its expiry month; after it, nothing is."""
    run(tmp_path, "replay", str(write_replay_file(tmp_path)))

    before = run(tmp_path, "report", "liability", "--as-of", "2026-06-01T00:00:00+02:00", "--json")
    after = run(tmp_path, "report", "liability", "--as-of", AFTER_EXPIRY, "--csv")
    both = run(tmp_path, "report", "liability", "--json", "--csv")

    assert before.returncode == 0, before.stderr
    report = json.loads(before.stdout)
    assert report["lines"] == [
        {
            "expiry_month": "2027-01",
            "origin": "activation_failed",
            "credits": 1,
            "available": "49.90",
            "held": "0.00",
            "outstanding": "49.90",
        }
    ]
    assert report["journal"]["reconciled"] is True
    assert after.stdout == "expiry_month,origin,credits,available,held,outstanding\n"
    assert both.returncode == 2
    assert "choose one" in both.stderr
