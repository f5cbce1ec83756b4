"""Replay files: sweep lines are checked up front, anything else is an event for the actors."""

from datetime import datetime

import pytest

from residuo.replay import BadLineError, EventLine, SweepLine, parse_line, split_lines


def test_a_sweep_line_names_its_kind_and_an_aware_instant() -> None:
    """``{"type": "sweep", …}`` is a sweep, at its ``as_of``."""
    line = parse_line(b'{"type": "sweep", "kind": "all", "as_of": "2026-03-01T06:00:00+01:00"}')

    assert line == SweepLine("all", datetime.fromisoformat("2026-03-01T06:00:00+01:00"))


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        (b'{"type": "sweep", "kind": "daily", "as_of": "2026-03-01T06:00:00+01:00"}', "unknown"),
        (b'{"type": "sweep", "kind": "expiry", "as_of": "2026-03-01T06:00:00"}', "offset"),
        (b'{"type": "sweep", "kind": "expiry", "as_of": 1767250800}', "offset"),
        (b'{"type": "sweep", "kind": "expiry"}', "exactly"),
    ],
)
def test_a_sweep_line_that_can_never_run_is_refused(raw: bytes, complaint: str) -> None:
    """A bad sweep line is an authoring error of the file, said plainly."""
    with pytest.raises(BadLineError, match=complaint):
        parse_line(raw)


@pytest.mark.parametrize(
    "raw",
    [b'{"type": "payment.received", "id": "evt-1"}', b"not json", b"[]", b'{"type": "x"}'],
)
def test_anything_else_is_an_event_kept_byte_for_byte(raw: bytes) -> None:
    """Events are judged by the actors, so even garbage goes through and is reported."""
    line = parse_line(raw)

    assert isinstance(line, EventLine)
    assert line.body == raw


def test_an_event_line_knows_its_time_when_it_has_one() -> None:
    """The demo's clock follows the events' own ``time``."""
    line = parse_line(b'{"type": "activation.failed", "time": "2026-01-11T10:00:00+01:00"}')

    assert isinstance(line, EventLine)
    assert line.time == datetime.fromisoformat("2026-01-11T10:00:00+01:00")


def test_blank_lines_are_skipped_and_numbers_kept() -> None:
    """Line numbers in messages are those of the file, blank lines included."""
    assert list(split_lines(b'{"a": 1}\n\n  \r\n{"b": 2}\r\n')) == [
        (1, b'{"a": 1}'),
        (4, b'{"b": 2}'),
    ]
