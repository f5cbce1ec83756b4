"""Human-facing outputs show what came from upstream escaped: no escape sequence, no
forged row, no markup read from data."""

from __future__ import annotations

import io

import pytest
from rich.console import Console, RenderableType

from residuo.dead_letter_views import dead_letters_table
from residuo.printable import printable
from residuo.status import Section, status_tables
from workers.rabbitmq.dead_letter_queue import DeadLetter

pytestmark = pytest.mark.reliability


def rendered(renderable: RenderableType) -> str:
    output = io.StringIO()
    Console(file=output, width=200, color_system=None).print(renderable)
    return output.getvalue()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("MI0001", "MI0001"),
        ("evt\x1b[31m", "evt\\x1b[31m"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("del\x7f c1\x9b", "del\\x7f c1\\x9b"),
        ("bidi\u202eoverride", "bidi\\u202eoverride"),
        ("line\u2028separator", "line\\u2028separator"),
        ("lone\ud800", "lone\\ud800"),
        ("caffè 1234567@aruba.it", "caffè 1234567@aruba.it"),
    ],
)
def test_what_a_terminal_would_obey_is_escaped(text: str, shown: str) -> None:
    """Control and format characters and separators are escaped; letters and spaces stay."""
    assert printable(text) == shown


def test_a_dead_letter_with_escape_codes_and_newlines_is_one_escaped_row() -> None:
    """``dead-letters list``: a newline in an event id no longer forges a row, and an
    escape sequence or rich markup in a detail is shown as typed."""
    letter = DeadLetter(
        dead_letter_queue="residuo.events.XQ",
        message_id="m-1",
        reason="bad_schema",
        detail="[bold red]data.order_id[/]: \x1b]0;owned\x07",
        queue="residuo.events",
        actor="payment_received",
        event_id="evt-1\nevt-2     residuo.events  processing_error",
        event_type="payment.received",
        retries=0,
        dead_lettered_at="2026-11-30T10:00:00+00:00",
        body=b"{}",
    )

    text = rendered(dead_letters_table([letter], {}))

    assert "\x1b" not in text and "\x07" not in text
    assert "evt-1\\nevt-2" in text
    assert "[bold red]data.order_id[/]: \\x1b]0;owned\\x07" in text
    assert sum("processing_error" in line for line in text.splitlines()) == 1


def test_status_cells_are_escaped() -> None:
    """``residuo status``: whatever a row holds is printed escaped, markup unread."""
    section = Section("queues", "Queues", ("queue",), [{"queue": "q\x1b[2J[blink]x"}])

    text = "".join(rendered(table) for table in status_tables([section]))

    assert "q\\x1b[2J[blink]x" in text
