"""The published event schemas (docs/contract/schemas/events) accept an event exactly
when residuo does, for any value of any attribute or field the schemas can judge.

The rules docs/contract.md lists as beyond a JSON Schema are left alone: the
configured currency, timestamps (their offset and window), a misspelt attribute
name, which action needs `new_order`, and an order number that grows past its bound
once normalised and upper-cased (values here are too short for that)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from messages import InvalidEvent, parse_inbound

EVENTS = Path(__file__).resolve().parents[2] / "docs" / "contract" / "schemas" / "events"
TIME = "2026-01-10T09:30:00+01:00"


def envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "billing",
        "type": event_type,
        "time": TIME,
        "subject": "MI0001",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "data": data,
    }


VALID: dict[str, dict[str, Any]] = {
    "payment.received": envelope(
        "payment.received",
        {
            "order_id": "MI0001",
            "customer_id": "1234567@aruba.it",
            "service": "hosting",
            "amount": "49.90",
            "currency": "EUR",
            "paid_at": TIME,
            "method": "card",
            "reference": "integrazione MI0001",
        },
    ),
    "activation.failed": envelope(
        "activation.failed", {"order_id": "MI0001", "failed_at": TIME, "reason": "no"}
    ),
    "credit.requested": envelope(
        "credit.requested",
        {
            "request_id": "REQ-1",
            "customer_id": "1234567@aruba.it",
            "action": "transfer",
            "channel": "documents",
            "documents": ["id.pdf"],
            "requested_at": TIME,
            "new_order": {
                "order_id": "MI0002",
                "amount": "10.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "spid",
            },
            "credit_ids": ["CR-MI0001"],
        },
    ),
}

# Where a value may be replaced, by event type: every attribute and field but the
# type, the spec version, the currency, the timestamps and the action.
PATHS: dict[str, list[tuple[str | int, ...]]] = {
    "payment.received": [
        ("id",),
        ("source",),
        ("subject",),
        ("traceparent",),
        ("datacontenttype",),
        ("data", "order_id"),
        ("data", "customer_id"),
        ("data", "service"),
        ("data", "amount"),
        ("data", "method"),
        ("data", "reference"),
    ],
    "activation.failed": [("data", "order_id"), ("data", "reason")],
    "credit.requested": [
        ("data", "request_id"),
        ("data", "customer_id"),
        ("data", "channel"),
        ("data", "documents", 0),
        ("data", "credit_ids", 0),
        ("data", "new_order", "order_id"),
        ("data", "new_order", "amount"),
        ("data", "new_order", "purpose"),
        ("data", "new_order", "service"),
    ],
}

_CHARACTERS = st.sampled_from(
    [*"\x00\x09\x0a\x1b\x7f\x85\x9b", *" \xa0\u2028\u3000\ufeff", *"aZ09-.@ßﬀ"]
)
VALUES = st.one_of(
    st.text(_CHARACTERS, max_size=10),
    st.sampled_from(["card", "documents", "purchase", "Card", "card\n"]),
    st.builds(
        "application/json{}{}".format,
        st.text(_CHARACTERS, max_size=2),
        st.sampled_from(["", ";", "; charset=utf-8", ";x\n", "x"]),
    ),
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["", "-", "0", "00"]),
        st.text("0123456789", min_size=1, max_size=14),
        st.sampled_from(["", ".0", ".00", ".5", ".05", ".000"]),
    ),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
)


@cache
def validator(event_type: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((EVENTS / f"{event_type}.json").read_text()))


def residuo_accepts(event: dict[str, Any]) -> bool:
    try:
        parse_inbound(json.dumps(event))
    except InvalidEvent:
        return False
    return True


@pytest.mark.parametrize("event_type", list(VALID))
def test_the_valid_events_are_valid_for_both(event_type: str) -> None:
    """The starting points: each accepted by residuo and by its schema."""
    assert residuo_accepts(VALID[event_type])
    assert validator(event_type).is_valid(VALID[event_type])


@pytest.mark.parametrize("event_type", list(VALID))
@given(data=st.data())
def test_the_schema_and_residuo_agree_on_any_value_anywhere(
    event_type: str, data: st.DataObject
) -> None:
    """One attribute or field replaced by a string of controls, whitespace and letters,
    an amount-like or media-type-like string, null, a boolean, an integer or a float:
    the published schema's verdict is residuo's."""
    event = copy.deepcopy(VALID[event_type])
    path = data.draw(st.sampled_from(PATHS[event_type]), label="path")
    value = data.draw(VALUES, label="value")
    parent: Any = event
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value

    assert validator(event_type).is_valid(event) == residuo_accepts(event)
