"""``residuo status`` on the embedded setup: the outbox and events sections read the
books, the broker sections say there are no queues, and nothing counts as a problem."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rich.console import Console

from ledger.store import schema
from residuo.bootstrap import Runtime
from residuo.status import SECTIONS, collect, status_document, status_tables
from scheduler.plan import DueRun
from scheduler.runs import claim

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the `runtime` fixture's clock


def test_the_outbox_backlog_counts_unpublished_rows_and_the_oldest_age(
    runtime: Runtime,
) -> None:
    """Two notifications wait for the relay, the oldest for an hour and a half."""
    with runtime.engine.begin() as connection:
        connection.execute(
            schema.outbox.insert(),
            [
                {
                    "notification_id": f"n-{minutes}",
                    "type": "credit.granted",
                    "payload": "{}",
                    "created_at": NOW - timedelta(minutes=minutes),
                    "published_at": NOW if minutes == 300 else None,
                }
                for minutes in (300, 90, 5)
            ],
        )

    document = status_document(collect(runtime))

    assert document["outbox"] == [
        {
            "unpublished": 2,
            "oldest_created_at": "2026-03-01T11:30:00+01:00",
            "oldest_age_seconds": 5400,
        }
    ]
    assert document["events"] == [{"parked": 0, "oldest_parked_age_seconds": None, "rejected": 0}]


def test_parked_events_show_how_long_the_oldest_has_waited(runtime: Runtime) -> None:
    """A failure whose payment never came stays parked; its age is what ops alert on."""
    park_events(runtime, hours_ago=(26, 2))

    (row,) = status_document(collect(runtime))["events"]

    assert row == {"parked": 2, "oldest_parked_age_seconds": 26 * 3600, "rejected": 0}


def park_events(runtime: Runtime, hours_ago: Sequence[int]) -> None:
    """Activation failures received `hours_ago`, parked for want of their payment."""
    with runtime.engine.begin() as connection:
        connection.execute(
            schema.inbox.insert(),
            [
                {
                    "event_id": f"evt-fail-{hours}",
                    "event_type": "activation.failed",
                    "status": "parked",
                    "order_id": f"MI{hours:04d}",
                    "business_time": NOW - timedelta(hours=hours),
                    "received_at": NOW - timedelta(hours=hours),
                }
                for hours in hours_ago
            ],
        )


def test_the_embedded_broker_has_no_queues_to_show_and_that_is_no_problem(
    runtime: Runtime,
) -> None:
    """Every section is rendered; the broker ones carry a note, not a problem."""
    sections = collect(runtime)
    document = status_document(sections)
    console = Console(record=True, width=100)
    for table in status_tables(sections):
        console.print(table)

    assert [each.key for each in sections] == [
        "queues",
        "dead_letters",
        "outbox",
        "events",
        "sweeps",
    ]
    assert len(sections) == len(SECTIONS)
    assert document["problems"] == {}
    assert set(document["notes"]) == {"queues", "dead_letters"}
    assert "keeps no queues" in console.export_text()
    json.dumps(document)


def test_the_last_sweep_runs_show_their_day_progress_and_outcomes(runtime: Runtime) -> None:
    """A scheduled run appears with its business day, chunks done and what it settled."""
    as_of = datetime(2026, 3, 2, 4, 30, tzinfo=runtime.settings.policy.zone)
    run = DueRun(business_date=as_of.date(), rank=2, kind="expiry", as_of=as_of)
    assert claim(runtime.engine, run, now=as_of)
    runtime.ledger.start_sweep_run("expiry", as_of.date(), as_of)

    (row,) = status_document(collect(runtime))["sweeps"]

    assert (row["kind"], row["business_date"]) == ("expiry", "2026-03-02")
    assert row["status"] == "completed"
    assert row["chunks"] == "0/0"
