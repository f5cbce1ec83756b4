"""One source of truth for field limits: every identifier the wire accepts fits the
column the books keep it in, derived ids included, and nothing is left unclassified.

The wire models are read through their JSON Schema (``maxLength``, ``enum``), the
tables through their SQLAlchemy columns, so the test sees what pydantic and the
database really enforce, not what a constant says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pytest
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import String, Text

from ledger.credit_book import credit_id_for_order
from ledger.store import schema
from ledger.sweeps import PASSES
from messages import NOTIFICATION_TYPES, InboundEvent, limits
from messages.cloudevents import CloudEvent

pytestmark = pytest.mark.reliability

# What each identifier is bounded by, by field or column name.
IDENTIFIERS: Final[Mapping[str, int]] = {
    "event_id": limits.EVENT_ID_MAX_LENGTH,
    "id": limits.EVENT_ID_MAX_LENGTH,
    "event_type": limits.EVENT_TYPE_MAX_LENGTH,
    "type": limits.EVENT_TYPE_MAX_LENGTH,
    "order_id": limits.ORDER_ID_MAX_LENGTH,
    "source_order_id": limits.ORDER_ID_MAX_LENGTH,
    "customer_id": limits.CUSTOMER_ID_MAX_LENGTH,
    "request_id": limits.REQUEST_ID_MAX_LENGTH,
    "credit_id": limits.CREDIT_ID_MAX_LENGTH,
    "credit_ids": limits.CREDIT_ID_MAX_LENGTH,
    "service": limits.SERVICE_MAX_LENGTH,
    "reason": limits.CODE_MAX_LENGTH,
    # A correction names the notification it voids (by id and type) and the types of
    # the notifications a late event would have voided and told.
    "voided_id": limits.EVENT_ID_MAX_LENGTH,
    "adjustment_id": limits.EVENT_ID_MAX_LENGTH,
    "voided_type": limits.EVENT_TYPE_MAX_LENGTH,
    "voided": limits.EVENT_TYPE_MAX_LENGTH,
    "told": limits.EVENT_TYPE_MAX_LENGTH,
    "dead_letter_id": limits.DEAD_LETTER_ID_MAX_LENGTH,
    "operator": limits.OPERATOR_MAX_LENGTH,
}

# Fields that are free text: stored, if at all, in unbounded columns.
FREE_TEXT: Final = frozenset(
    {
        "source",
        "subject",
        "dataschema",
        "documents",
        "reference",
        "message",
        "detail",
        "payment_reference",
        "ActivationFailed.reason",
        # Why an operator adjusted a credit, in their words.
        "CreditAdjusted.reason",
    }
)

# Fields whose shape is checked by their own validator: the configured currency code,
# and amounts (digits, a point, at most two decimals; their JSON Schema has a pattern).
VALUES: Final = frozenset({"currency"})


def _length(column_type: object) -> int:
    assert isinstance(column_type, String) and column_type.length is not None
    return column_type.length


# Columns holding ids the ledger derives, and what they must be able to hold.
DERIVED: Final[Mapping[tuple[str, str], int]] = {
    ("reminders", "subject_id"): max(limits.CREDIT_ID_MAX_LENGTH, limits.ORDER_ID_MAX_LENGTH),
    **{
        ("sweep_chunks", bound): max(_length(each.key.type) for each in PASSES.values())
        for bound in ("after_key", "upto_key")
    },
    # ``customer:<id>``, ``order:<number>``, ``sweep:<kind>``: the longest is a customer's.
    **{
        (table, "subject"): len("customer:") + limits.CUSTOMER_ID_MAX_LENGTH
        for table in ("event_subjects", "subject_frontiers")
    },
}

# Columns of the ledger's own codes and keys, never copied from an event's text.
INTERNAL: Final = frozenset(
    {
        "status",
        "kind",
        "origin",
        "method",
        "action",
        "channel",
        "outcome",
        "account",
        "pass_name",
        "notification_id",
        "rule_key",
        "voided_by",
        "body_sha256",
        "queue",
    }
)


@dataclass(frozen=True)
class WireString:
    """A string field of a wire model, as its JSON Schema describes it."""

    where: str
    name: str
    max_length: int | None
    choices: tuple[str, ...] | None


def wire_strings() -> list[WireString]:
    """Every string field of every inbound event and notification, nested ones included."""
    models: list[tuple[str, dict[str, Any]]] = [
        ("InboundEvent", TypeAdapter(InboundEvent).json_schema()),
        ("CloudEvent", CloudEvent[dict[str, Any]].model_json_schema()),
    ]
    models += [(model.__name__, model.model_json_schema()) for model in _notifications()]
    return [found for title, document in models for found in _walk(title, document, document)]


def _notifications() -> list[type[BaseModel]]:
    return list(NOTIFICATION_TYPES.values())


def _walk(title: str, node: dict[str, Any], document: dict[str, Any]) -> Iterator[WireString]:
    node = _resolve(node, document)
    if "oneOf" in node or "anyOf" in node:
        for each in node.get("oneOf", node.get("anyOf", [])):
            yield from _walk(title, each, document)
        return
    for name, field in node.get("properties", {}).items():
        yield from _field(node.get("title", title), name, field, document)


def _field(
    where: str, name: str, field: dict[str, Any], document: dict[str, Any]
) -> Iterator[WireString]:
    field = _resolve(field, document)
    for each in field.get("anyOf", [field]):
        variant = _resolve(each, document)
        if variant.get("type") == "array":
            yield from _field(where, name, variant["items"], document)
        elif variant.get("type") == "object" and "properties" in variant:
            yield from _walk(where, variant, document)
        elif variant.get("type") == "string" or "const" in variant or "enum" in variant:
            if variant.get("format") == "date-time" or "pattern" in variant:
                continue
            choices = variant.get("enum") or ([variant["const"]] if "const" in variant else None)
            yield WireString(
                where, name, variant.get("maxLength"), None if choices is None else tuple(choices)
            )


def _resolve(node: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = document["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def string_columns() -> Iterator[tuple[str, str, int | None]]:
    """(table, column, length) of every string column; length None when unbounded."""
    for table in schema.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, Text):
                yield table.name, column.name, None
            elif isinstance(column.type, String):
                yield table.name, column.name, column.type.length


def test_every_identifier_field_is_bounded_by_its_constant() -> None:
    """Each id an event or a notification carries has a maximum length, and it is the
    constant of its kind; free text is named as such; nothing is left out."""
    problems = []
    for found in wire_strings():
        expected = IDENTIFIERS.get(found.name)
        free = {found.name, f"{found.where}.{found.name}"} & FREE_TEXT
        if found.choices is not None or found.name in VALUES:
            continue
        if free:
            assert found.max_length is None or expected is None, found
        elif expected is None:
            problems.append(f"{found.where}.{found.name}: neither an identifier nor free text")
        elif found.max_length != expected:
            problems.append(f"{found.where}.{found.name}: {found.max_length}, expected {expected}")
    assert problems == []


def test_every_column_is_sized_from_the_constant_of_what_it_holds() -> None:
    """Identifier columns have the length of their kind, derived columns hold what is
    derived into them, the journal's composed cause is unbounded, and any other string
    column is one of the ledger's own codes."""
    problems = []
    for table, column, length in string_columns():
        if (table, column) in DERIVED:
            expected: int | None = DERIVED[table, column]
        elif column in IDENTIFIERS:
            expected = IDENTIFIERS[column]
        elif (table, column) == ("journal_entries", "cause") or column in {
            "detail",
            "memo",
            "payload",
            "body",
            "note",
            "operator_reason",
        }:
            expected = None
        elif column in INTERNAL:
            continue
        else:
            problems.append(f"{table}.{column}: not classified")
            continue
        if length != expected:
            problems.append(f"{table}.{column}: {length}, expected {expected}")
    assert problems == []


def test_every_choice_on_the_wire_fits_its_column() -> None:
    """A literal the wire accepts (a payment method, an origin, an action) fits every
    column of the same name."""
    lengths: dict[str, list[tuple[str, int]]] = {}
    for table, column, length in string_columns():
        if length is not None:
            lengths.setdefault(column, []).append((table, length))
    for found in wire_strings():
        if found.choices is None:
            continue
        longest = max(len(choice) for choice in found.choices)
        for table, length in lengths.get(found.name, []):
            assert longest <= length, (found, table)


def test_a_credit_id_derived_from_the_longest_order_fits_every_credit_column() -> None:
    """``CR-`` and a 64-character order number fit wherever a credit id is kept."""
    derived = credit_id_for_order("9" * limits.ORDER_ID_MAX_LENGTH)
    for table, column, length in string_columns():
        if column in {"credit_id", "subject_id", "after_key", "upto_key"}:
            assert length is not None and len(derived) <= length, (table, column)
