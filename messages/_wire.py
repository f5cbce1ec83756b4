"""From raw bodies to JSON text, and from pydantic errors to `InvalidEvent`.

Bodies are always validated as JSON text (pydantic's JSON mode), whatever form they
arrive in, so that strictness means the same thing for bytes from RabbitMQ and for a
dict decoded by Dramatiq: a timestamp is an ISO 8601 string, never a number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final, NoReturn

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from messages.cloudevents import misspelt_core_attribute
from messages.errors import InvalidEvent, RejectionReason

_REASONS: Final[Mapping[str, RejectionReason]] = {
    "bad_amount": "bad_amount",
    "wrong_currency": "wrong_currency",
    "timezone_aware": "naive_timestamp",
    "json_invalid": "bad_json",
}
_MAX_REPORTED_ERRORS: Final = 5

MAX_NESTING_DEPTH: Final = 32
"""How deep arrays and objects may nest in a body. Events of the contract nest three
levels (envelope, ``data``, ``new_order``); a body nested thousands deep would
exhaust the recursion of any decoder or encoder that meets it after us."""


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def load_object(body: bytes | str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return the body as JSON text and as its decoded top-level object.

    Raises `InvalidEvent` with ``bad_json`` (not UTF-8, not JSON, NaN or Infinity,
    nested deeper than `MAX_NESTING_DEPTH`, a mapping that does not serialize: any
    failure of the decoder, whatever its type) or ``not_an_object`` (JSON, but not an
    object).
    """
    if isinstance(body, Mapping):
        _require_shallow(body)
        try:
            text = json.dumps(body, allow_nan=False)
        except Exception as error:
            raise InvalidEvent("bad_json", f"body is not JSON-serializable: {error}") from error
    elif isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidEvent("bad_json", f"body is not UTF-8: {error}") from error
    else:
        text = body
    try:
        decoded = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as error:
        raise _too_deep() from error
    except Exception as error:
        raise InvalidEvent("bad_json", f"body is not JSON: {error}") from error
    _require_shallow(decoded)
    if not isinstance(decoded, dict):
        raise InvalidEvent(
            "not_an_object", f"body is a JSON {type(decoded).__name__}, not an object"
        )
    return text, decoded


def _require_shallow(value: object) -> None:
    """Raise `InvalidEvent` if ``value`` nests deeper than `MAX_NESTING_DEPTH`; walked
    with a stack of its own, so that depth itself cannot exhaust the recursion."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, Mapping):
            children: Iterable[object] = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > MAX_NESTING_DEPTH:
            raise _too_deep()
        pending.extend((child, depth + 1) for child in children)


def _too_deep() -> InvalidEvent:
    return InvalidEvent("bad_json", f"body nests deeper than {MAX_NESTING_DEPTH} levels")


def header(body: Mapping[str, Any], name: str) -> str | None:
    """A top-level string attribute of an event, if it has one, whatever else is wrong."""
    value = body.get(name)
    return value if isinstance(value, str) and value.strip() else None


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("data", "documents", 0)`` → ``data.documents[0]``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = part
    return path or "event"


def _message(error: ErrorDetails, hint: str) -> str:
    match error["type"]:
        case "extra_forbidden":
            return "unknown field"
        case "missing":
            return "required field is missing" + hint
        case "timezone_aware":
            return f"timestamps must carry an offset, got {error['input']!r}"
        case "datetime_type" | "datetime_parsing":
            return f"timestamps are ISO 8601 strings with an offset, got {error['input']!r}"
        case _:
            return error["msg"]


def _misspelt_hint(attribute: int | str, body: Mapping[str, Any]) -> str:
    """`` (is tiem a misspelt time?)`` when the body has a name that looks like it."""
    typos = [name for name in body if misspelt_core_attribute(name) == attribute]
    return f" ({typos[0]} looks like a misspelt {attribute})" if typos else ""


def rejection(
    error: ValidationError,
    body: Mapping[str, Any],
    *,
    tag: str | None = None,
    prefix: tuple[str, ...] = (),
) -> InvalidEvent:
    """Translate a pydantic failure into the `InvalidEvent` ops will read.

    The reason comes from the first error that has a specific one (an amount, the
    currency, a naive timestamp) and is ``bad_schema`` otherwise; that error leads the
    detail, followed by a few of the others. `tag` is the discriminator value pydantic
    puts in front of the locations of a tagged union; `prefix` is prepended to them.
    """
    errors = error.errors(include_url=False)
    lead = next((e for e in errors if e["type"] in _REASONS), errors[0])
    ordered = [lead, *(e for e in errors if e is not lead)]

    def described(details: ErrorDetails) -> str:
        loc = details["loc"]
        if tag is not None and loc[:1] == (tag,):
            loc = loc[1:]
        # An envelope-level error about one attribute (a misspelt name) names it.
        attribute = details.get("ctx", {}).get("attribute")
        if isinstance(attribute, str):
            loc = (*loc, attribute)
        # A core attribute missing from the envelope may be there under a misspelt name.
        hint = _misspelt_hint(loc[0], body) if len(loc) == 1 and not prefix else ""
        return f"{field_path((*prefix, *loc))}: {_message(details, hint)}"

    detail = "; ".join(described(e) for e in ordered[:_MAX_REPORTED_ERRORS])
    if len(ordered) > _MAX_REPORTED_ERRORS:
        detail += f"; and {len(ordered) - _MAX_REPORTED_ERRORS} more"
    return InvalidEvent(
        _REASONS.get(lead["type"], "bad_schema"),
        detail,
        event_id=header(body, "id"),
        event_type=header(body, "type"),
    )
