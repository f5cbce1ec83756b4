"""The CloudEvents 1.0 envelope, structured JSON mode, for both directions.

residuo is stricter than the CloudEvents specification in one way, on purpose: `time`
is required (rules judge events at business time and ops read it).

Extension attributes are accepted as the specification allows and kept with the event
(``model_extra``): names of lowercase letters and digits (the specification
recommends at most 20 characters; residuo does not insist), values a string, an
integer (32-bit signed; ``2.0`` is the integer 2, as JSON Schema has it) or a
boolean; an extension whose value is null is unset, as the JSON format says. A name
that looks like a misspelt core attribute is refused (`misspelt_attribute`):
``subjet`` would otherwise be kept as an extension while the event silently lost its
subject. The rule: a name within edit distance 2 of a core
attribute (optimal string alignment, a swap of two neighbours counts once), 1 for
the four-letter ones (``type``, ``time``, ``data``); ``id`` is too short to judge.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError
from rapidfuzz.distance import OSA

from messages._fields import EventId, EventType, StringRule, Text, WireModel

__all__ = [
    "CORE_ATTRIBUTES",
    "EXTENSION_NAME",
    "EXTENSION_NAME_CHARACTERS",
    "EXTENSION_NAME_SCHEMA",
    "JSON_CONTENT_TYPE",
    "SPECVERSION",
    "CloudEvent",
    "ExtensionValue",
    "misspelt_core_attribute",
]

SPECVERSION: Final = "1.0"
JSON_CONTENT_TYPE: Final = "application/json"

CORE_ATTRIBUTES: Final = (
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "datacontenttype",
    "dataschema",
    "subject",
    "data",
)
"""The attributes the CloudEvents specification defines, and `data`."""

EXTENSION_NAME_CHARACTERS: Final = "a-z0-9"
"""What an extension attribute's name may be made of (CloudEvents 1.0, §Naming), as the
inside of a regular expression's character class."""

EXTENSION_NAME: Final = re.compile(f"[{EXTENSION_NAME_CHARACTERS}]+")
"""An extension attribute's name, whole (``fullmatch``)."""

EXTENSION_NAME_SCHEMA: Final[dict[str, JsonValue]] = {
    "minLength": 1,
    # Unanchored: Python's `$` also matches before a final newline, ECMA-262's does not,
    # so "^[a-z0-9]+$" would let a Python validator pass "sequence\n".
    "not": {"pattern": f"[^{EXTENSION_NAME_CHARACTERS}]"},
}
"""`EXTENSION_NAME` as a JSON Schema of a string, the same on every regex engine."""

_INT32: Final = 2**31


def _extension_value(value: object) -> bool | int | str | None:
    if value is None or isinstance(value, bool | str):
        return value
    # JSON has one kind of number and JSON Schema calls 1.0 an integer: so does residuo,
    # or the published schema would accept an event residuo refuses.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and -_INT32 <= value < _INT32:
        return value
    raise PydanticCustomError(
        "bad_extension_value",
        "extension attribute values are strings, 32-bit integers or booleans",
    )


ExtensionValue = Annotated[
    bool | int | str | None,
    PlainValidator(_extension_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {"type": "integer", "minimum": -_INT32, "maximum": _INT32 - 1},
                {"type": "boolean"},
                {"type": "null"},
            ]
        }
    ),
]
"""An extension attribute's value in the JSON format: Boolean, Integer, or a string
(String, URI, URI-reference, Timestamp, and Binary as base64); null means unset."""


def _media_type_in_lower_case(value: object) -> object:
    # Media types are case-insensitive (RFC 9110 §8.3.1): `Application/JSON` is
    # `application/json`. Parameters are kept as sent: some values are not.
    if not isinstance(value, str):
        return value
    media_type, separator, parameters = value.partition(";")
    return media_type.lower() + separator + parameters


# What may follow the media type: ASCII whitespace, then parameters if any. Written as
# a prefix and a forbidden continuation, never with `$`, so that the published schema
# reads alike on every regular-expression engine (see messages._fields).
_SPACE: Final = r"\t-\r "
_JSON_MEDIA_TYPE: Final = re.compile("^application/json")
_NOT_JSON_MEDIA_TYPE: Final = re.compile(f"^application/json[{_SPACE}]*[^{_SPACE};]")


def _json_media_type(value: str) -> str:
    if _JSON_MEDIA_TYPE.search(value) is None or _NOT_JSON_MEDIA_TYPE.search(value):
        raise PydanticCustomError("not_json", "must be application/json, with parameters if any")
    return value


JsonMediaType = Annotated[
    str,
    StringRule(
        _json_media_type,
        pattern=_JSON_MEDIA_TYPE.pattern,
        forbidden=_NOT_JSON_MEDIA_TYPE.pattern,
    ),
    # After the rule in this list, so it runs before it; the JSON Schema states the
    # canonical, lower-case form.
    BeforeValidator(_media_type_in_lower_case),
]
"""``application/json``, with parameters if any (``application/json; charset=utf-8``):
`data` is always a JSON object. The media type is matched without regard to case and
kept in lower case (``Application/JSON`` is kept as ``application/json``)."""

DataT = TypeVar("DataT")


def _tolerated_distance(core: str) -> int:
    # Short names are close to many words: "ids" is one edit from "id", "types" one
    # from "type"; a longer name two edits away is still recognisably the same word.
    if len(core) <= 2:
        return 0
    return 1 if len(core) <= 4 else 2


def misspelt_core_attribute(name: str) -> str | None:
    """The core attribute `name` looks like a misspelling of, if any (see the module)."""
    lowered = name.lower()
    if lowered in CORE_ATTRIBUTES:
        return lowered if lowered != name else None
    for core in CORE_ATTRIBUTES:
        if OSA.distance(lowered, core) <= _tolerated_distance(core):
            return core
    return None


class CloudEvent(WireModel, Generic[DataT]):
    """One event: routing attributes around a typed `data` payload.

    `id` is the idempotency key of inbound events; `time` must carry an
    offset. Subclasses narrow `type` to a `Literal` to make a tagged union.
    Extension attributes are in `model_extra` (see the module for the rules).
    """

    model_config = ConfigDict(
        extra="allow",
        # What JSON Schema can say of the naming rule (the misspelling rule it cannot).
        json_schema_extra={"propertyNames": EXTENSION_NAME_SCHEMA},
    )
    __pydantic_extra__: dict[str, ExtensionValue] = Field(init=False)

    specversion: Literal["1.0"]
    id: EventId
    source: Text
    type: EventType
    time: AwareDatetime
    datacontenttype: JsonMediaType | None = None
    subject: Text | None = None
    dataschema: Text | None = None
    data: DataT

    @model_validator(mode="after")
    def _extension_names(self) -> CloudEvent[DataT]:
        extensions = self.__pydantic_extra__
        for name in list(extensions):
            core = misspelt_core_attribute(name)
            if core is not None:
                raise PydanticCustomError(
                    "misspelt_attribute",
                    "looks like a misspelt {core}: residuo refuses extension attributes "
                    "this close to a core attribute",
                    {"attribute": name, "core": core},
                )
            if EXTENSION_NAME.fullmatch(name) is None:
                raise PydanticCustomError(
                    "bad_extension_name",
                    "extension attribute names are lowercase letters and digits only",
                    {"attribute": name},
                )
            # The JSON format: an attribute whose value is null is unset.
            if extensions[name] is None:
                del extensions[name]
        return self

    @property
    def extensions(self) -> dict[str, bool | int | str]:
        """The extension attributes this event carried, by name."""
        return {name: each for name, each in (self.model_extra or {}).items() if each is not None}
