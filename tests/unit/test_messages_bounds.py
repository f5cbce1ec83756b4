"""What parsing bounds on its own (nesting, any decoder failure) and what the settings
bound on top of it (body size, the plausible time window)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from messages import InboundBounds, InvalidEvent, decode_body, parse_inbound

pytestmark = pytest.mark.reliability

PAYMENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "evt-0001",
    "source": "billing",
    "type": "payment.received",
    "time": "2026-01-10T09:30:00+01:00",
    "data": {
        "order_id": "MI0001",
        "customer_id": "1234567@aruba.it",
        "service": "spid",
        "amount": "49.90",
        "currency": "EUR",
        "paid_at": "2026-01-10T09:30:00+01:00",
        "method": "card",
        "reference": None,
    },
}


def nested(depth: int) -> dict[str, Any]:
    """``{"a": {"a": … {}}}``, ``depth`` objects deep, built without recursion."""
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return root


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":' * 10_000 + b"{}" + b"}" * 10_000,
        b"[" * 10_000 + b"]" * 10_000,
        "[" * 100_000,
    ],
    ids=["objects", "arrays", "unterminated"],
)
def test_a_body_nested_ten_thousand_deep_is_bad_json(body: bytes | str) -> None:
    """The decoder's recursion is never the limit: such a body is ``bad_json``."""
    with pytest.raises(InvalidEvent) as caught:
        parse_inbound(body)

    assert caught.value.reason == "bad_json"


def test_a_decoded_object_nested_too_deep_is_bad_json() -> None:
    """A body handed over already decoded (a Dramatiq message's argument) is bounded
    the same way, before anything tries to encode it back."""
    with pytest.raises(InvalidEvent) as caught:
        parse_inbound(nested(5_000))

    assert (caught.value.reason, caught.value.detail) == (
        "bad_json",
        "body nests deeper than 32 levels",
    )


def test_thirty_two_levels_are_read_and_thirty_three_are_not() -> None:
    """The bound is exact, and far beyond the three levels of any real event."""
    assert decode_body(json.dumps(nested(32)))["a"]
    with pytest.raises(InvalidEvent, match="deeper than 32"):
        decode_body(json.dumps(nested(33)))


def test_a_body_larger_than_the_limit_is_refused_unread() -> None:
    """Over the limit is ``body_too_large``; at the limit is fine."""
    bounds = InboundBounds(max_body_bytes=10)

    bounds.check_size(b"x" * 10)
    with pytest.raises(InvalidEvent) as caught:
        bounds.check_size(b"x" * 11)

    assert caught.value.reason == "body_too_large"
    assert caught.value.detail == "the body is 11 bytes, more than the 10 accepted"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("paid_at", "9999-12-31T23:59:59+00:00"),
        ("paid_at", "2100-01-01T00:00:00+00:00"),
        ("paid_at", "1999-12-31T23:59:59+00:00"),
        ("paid_at", "0001-01-01T00:00:00+00:00"),
    ],
)
def test_an_instant_outside_the_window_is_implausible(field: str, value: str) -> None:
    """Year 9999 would make an expiry in year 10000: refused up front, with its path."""
    event = parse_inbound({**PAYMENT, "data": {**PAYMENT["data"], field: value}})

    with pytest.raises(InvalidEvent) as caught:
        InboundBounds().check_times(event)

    assert caught.value.reason == "implausible_timestamp"
    assert caught.value.detail.startswith(f"data.{field}: ")
    assert caught.value.event_id == "evt-0001"


def test_the_envelope_time_is_bounded_too() -> None:
    """``time`` is an instant of the event like any other."""
    event = parse_inbound({**PAYMENT, "time": "2999-01-01T00:00:00+00:00"})

    with pytest.raises(InvalidEvent, match=r"^implausible_timestamp: time: "):
        InboundBounds().check_times(event)


def test_an_instant_inside_the_window_passes() -> None:
    """The window's first instant is in it, its last is not."""
    bounds = InboundBounds(
        earliest=datetime(2026, 1, 10, 8, 30, tzinfo=UTC),
        latest=datetime(2026, 1, 10, 8, 30, 1, tzinfo=UTC),
    )

    bounds.check_times(parse_inbound(PAYMENT))


def test_an_empty_or_naive_window_is_refused() -> None:
    """A window that admits nothing, or whose ends have no offset, is a setting error."""
    with pytest.raises(ValueError, match="empty"):
        InboundBounds(
            earliest=datetime(2030, 1, 1, tzinfo=UTC), latest=datetime(2020, 1, 1, tzinfo=UTC)
        )
    with pytest.raises(ValueError, match="offset"):
        InboundBounds(latest=datetime(2030, 1, 1))
