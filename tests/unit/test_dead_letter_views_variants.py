"""Beyond attack10's reproductions: `dead-letters replay` judges a dead letter by every
bound the worker applies, with the settings' values; `dead-letters list` shows every
id whole however narrow the output and however long the other fields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dramatiq import Message
from rich.console import Console
from unit.test_attack10_operator_views import dead_letter, payment

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from messages import InboundBounds
from residuo.dead_letter_ops import replay_refusals
from residuo.dead_letter_views import print_dead_letters
from workers.rabbitmq.dead_letter_queue import DeadLetter


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'books.sqlite3'}")
    upgrade(engine)
    yield Ledger(engine, Policy(), clock=lambda: datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    engine.dispose()


def test_an_instant_inside_the_data_outside_the_window_is_still_invalid(ledger: Ledger) -> None:
    """`time` is plausible, `data.paid_at` is not: the worker refuses the first instant
    outside the window wherever it is, and so does replay."""
    event = payment(id="evt-paid-1999")
    event["data"] |= {"paid_at": "1999-12-31T23:00:00+00:00"}
    letter = dead_letter(json.dumps(event).encode(), "implausible_timestamp", "…", "evt-paid-1999")

    refusals = replay_refusals(ledger, [letter])

    assert refusals[letter.dead_letter_id].startswith("still invalid: implausible_timestamp")
    assert "data.paid_at" in refusals[letter.dead_letter_id]


def test_replay_judges_with_the_settings_bounds_not_the_defaults(ledger: Ledger) -> None:
    """A deployment that narrowed the window or the size refuses accordingly; the same
    letters pass the default bounds."""
    body = json.dumps(payment()).encode()
    letter = dead_letter(body, "retries_exhausted", "database down", "evt-pay")
    narrow = InboundBounds(
        max_body_bytes=len(body) - 1,
        earliest=datetime(2020, 1, 1, tzinfo=UTC),
        latest=datetime(2030, 1, 1, tzinfo=UTC),
    )
    late = InboundBounds(
        earliest=datetime(2026, 6, 1, tzinfo=UTC), latest=datetime(2030, 1, 1, tzinfo=UTC)
    )

    assert replay_refusals(ledger, [letter]) == {}
    too_large = replay_refusals(ledger, [letter], bounds=narrow)
    too_early = replay_refusals(ledger, [letter], bounds=late)
    assert "body_too_large" in too_large[letter.dead_letter_id]
    assert "implausible_timestamp" in too_early[letter.dead_letter_id]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_every_id_is_whole_on_a_line_of_its_own_at_any_width(width: int) -> None:
    """A 71-character body id, a Dramatiq message id and a 255-character event id: each
    dead letter's id is one line, uncut (narrower than the id, the terminal wraps it);
    the reason and the resolving event follow."""
    long_event_id = "evt-" + "x" * 251
    event = dead_letter(b"{}", "bad_schema", "data: missing " * 20, long_event_id)
    sweep = DeadLetter(
        dead_letter_queue="residuo.sweeps.XQ",
        message_id="7c1e9a53-2f55-4f5e-9a53-2f554f5e9a53",
        reason="not_retryable",
        detail="a sweep message no scheduler sent",
        queue="residuo.sweeps",
        actor="sweep_expiry",
        event_id=None,
        event_type=None,
        retries=0,
        dead_lettered_at=None,
        body=Message(
            queue_name="residuo.sweeps", actor_name="sweep_expiry", args=(), kwargs={}, options={}
        ).encode(),
    )
    console = Console(width=width, record=True, color_system=None)

    print_dead_letters(console, [event, sweep], {event.dead_letter_id: "evt-fixed"})

    lines = [line.rstrip() for line in console.export_text().splitlines()]
    for letter in (event, sweep):
        assert letter.dead_letter_id in lines
        assert any(letter.reason in line for line in lines)
    assert any("resolved by" in line and "evt-fixed" in line for line in lines)
    assert lines[0] == "2 dead letters, 1 resolved"
