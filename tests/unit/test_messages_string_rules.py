"""Rules on strings (not blank, no control characters) are written once, as a check and
what the JSON Schema says of the same strings: the character classes are what Python
means by them, and each schema accepts exactly the strings its check accepts."""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from messages._fields import (
    CONTROLS,
    WHITESPACE,
    Code,
    CreditId,
    CustomerId,
    EventId,
    OrderId,
    Text,
)

ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "Text": TypeAdapter(Text),
    "EventId": TypeAdapter(EventId),
    "CustomerId": TypeAdapter(CustomerId),
    "Code": TypeAdapter(Code),
    "OrderId": TypeAdapter(OrderId),
    "CreditId": TypeAdapter(CreditId),
}

EVERY_CHARACTER = [chr(code) for code in range(sys.maxunicode + 1)]

# Around every rule: controls, whitespace of every kind, letters that change when
# normalised or upper-cased (ß, the ﬀ ligature, a full-width digit), plain ones.
_TRICKY = st.sampled_from(
    [
        *"\x00\x09\x0a\x0d\x1b\x1c\x1f\x7f\x85\x9b\x9f",
        *" \xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u200b",
        *"aZ09-@.ßﬀ１",
    ]
)


def test_the_control_class_is_unicode_category_cc() -> None:
    """C0, DEL and C1: exactly the code points Unicode calls controls."""
    controls = re.compile(f"[{CONTROLS}]")

    assert [c for c in EVERY_CHARACTER if controls.fullmatch(c)] == [
        c for c in EVERY_CHARACTER if unicodedata.category(c) == "Cc"
    ]


def test_the_whitespace_class_is_what_str_strip_removes() -> None:
    """A blank string is one `str.strip()` empties: whitespace as `str.isspace` says."""
    whitespace = re.compile(f"[{WHITESPACE}]")

    assert [c for c in EVERY_CHARACTER if whitespace.fullmatch(c)] == [
        c for c in EVERY_CHARACTER if c.isspace()
    ]


def _accepts(adapter: TypeAdapter[Any], text: str) -> bool:
    try:
        adapter.validate_python(text)
    except ValidationError:
        return False
    return True


def _schema_accepts(adapter: TypeAdapter[Any], text: str) -> bool:
    return Draft202012Validator(adapter.json_schema()).is_valid(text)


@pytest.mark.parametrize("kind", list(ADAPTERS))
@given(text=st.text(_TRICKY, max_size=12))
def test_each_string_rule_schema_accepts_exactly_what_its_check_accepts(
    kind: str, text: str
) -> None:
    """The published schema and residuo agree on every string, whatever it mixes."""
    adapter = ADAPTERS[kind]

    assert _schema_accepts(adapter, text) == _accepts(adapter, text), text


@pytest.mark.parametrize(
    ("kind", "text", "accepted"),
    [
        ("OrderId", " mi0001 ", True),
        ("OrderId", "MI0001\n", False),
        ("CreditId", "   ", True),
        ("CreditId", "\t", False),
        ("Text", "\ufeff", True),
        ("EventId", "\u3000", False),
    ],
    ids=["spaces-around", "newline-at-the-end", "blank", "tab", "bom", "ideographic-space"],
)
def test_the_edges_of_the_string_rules(kind: str, text: str, accepted: bool) -> None:
    """Spaces around an order number are stripped, a newline at its end is refused; a
    blank credit id is the ledger's to refuse, a tab in one is not; a byte-order mark
    is not whitespace, an ideographic space is."""
    adapter = ADAPTERS[kind]

    assert _accepts(adapter, text) is accepted
    assert _schema_accepts(adapter, text) is accepted
