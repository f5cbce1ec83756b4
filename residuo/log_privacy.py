"""What a log line may say: no secret, no customer id in clear, no body, no escape code.

Log lines leave the machine (collectors, tickets, screenshots), so the processors
here run on every line, residuo's and its libraries' alike, after any traceback has
been rendered to text or to a dict and before the line is written:

* `LogScrubber` replaces every known secret (the passwords of the database and broker
  URLs, the pseudonym key) and anything shaped like one (``user:password@`` in a
  URL, ``password=…``) with ``***``, and every customer id with its pseudonym
  (``cust_`` and 16 hex digits of an HMAC-SHA256 under a key): one customer's lines
  still correlate, and nobody reading them learns who it was. Customer ids are
  recognised by their key (``customer_id``) and, within every other value of the
  same line, by the ids those keys carry, the one of the message being processed
  included (``workers.middleware.BindLogContext`` binds it).
* `escape_control_characters` writes C0, C1 and DEL characters as ``\\x1b`` in
  console lines (JSON lines escape them already): an id from upstream cannot move a
  terminal's cursor or forge a line.
* `MessagesWithoutBodies` is a logging filter: Dramatiq's own lines (``Message … was
  skipped.``, ``Failed to process message …``) name a message by its actor and id,
  never by its arguments, which are whole event bodies.

Tracebacks are rendered without their frames' locals (see ``residuo.bootstrap``):
a frame of psycopg's ``connect`` holds the connection parameters, password included.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from dramatiq import Message
from dramatiq.broker import MessageProxy
from structlog.typing import EventDict, WrappedLogger

__all__ = [
    "CUSTOMER_KEYS",
    "LogScrubber",
    "MessagesWithoutBodies",
    "escape_control_characters",
]

CUSTOMER_KEYS: Final = frozenset({"customer_id", "customer"})
"""Keys whose values are customer ids, wherever they are in a line."""

_MASK: Final = "***"
_URL_PASSWORD: Final = re.compile(r"(?P<keep>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s]+(?=@)", re.I)
_KEY_VALUE_PASSWORD: Final = re.compile(
    r"(?P<keep>\b(?:password|passwd|pwd|secret|token)['\"]?\s*[=:]\s*['\"]?)[^\s'\",;&)}]+",
    re.I,
)
_CONTROL_CHARACTER: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PSEUDONYM_DIGITS: Final = 16
# A traceback is several lines by nature; everything else is one line.
_MULTILINE_KEYS: Final = frozenset({"exception"})


class LogScrubber:
    """A structlog processor: secrets masked, customer ids pseudonymised (see module).

    Parameters:
      secrets: literal values never to be written (empty strings are ignored).
      pseudonym_key: the HMAC key of customer pseudonyms; lines written under the
        same key correlate, across processes and restarts.
    """

    def __init__(self, *, secrets: Iterable[str], pseudonym_key: bytes) -> None:
        # Longest first, so that a secret containing another is masked whole.
        self._secrets = sorted({each for each in secrets if each}, key=len, reverse=True)
        self._key = pseudonym_key

    def pseudonym(self, customer_id: str) -> str:
        """The stable stand-in for ``customer_id`` under this scrubber's key."""
        digest = hmac.new(self._key, customer_id.encode("utf-8", "surrogatepass"), "sha256")
        return f"cust_{digest.hexdigest()[:_PSEUDONYM_DIGITS]}"

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        customers = sorted(set(_customer_ids(event_dict)), key=len, reverse=True)
        return {key: self._scrub(value, customers, key) for key, value in event_dict.items()}

    def _scrub(self, value: Any, customers: list[str], key: str | None) -> Any:
        if key in CUSTOMER_KEYS and isinstance(value, str):
            return self.pseudonym(value)
        if isinstance(value, str):
            return self._text(value, customers)
        if isinstance(value, Mapping):
            return {k: self._scrub(v, customers, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(each, customers, None) for each in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        # Anything else would be rendered with its repr, which may hold anything.
        return self._text(repr(value), customers)

    def _text(self, text: str, customers: list[str]) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        text = _URL_PASSWORD.sub(rf"\g<keep>{_MASK}", text)
        text = _KEY_VALUE_PASSWORD.sub(rf"\g<keep>{_MASK}", text)
        for customer in customers:
            text = text.replace(customer, self.pseudonym(customer))
        return text


def _customer_ids(value: Any, key: str | None = None) -> Iterable[str]:
    if key in CUSTOMER_KEYS and isinstance(value, str) and value:
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _customer_ids(v, str(k))
    elif isinstance(value, list | tuple):
        for each in value:
            yield from _customer_ids(each)


def escape_control_characters(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """A structlog processor for console lines: control characters escaped (a
    traceback keeps its line breaks)."""
    return {key: _escaped(value, key in _MULTILINE_KEYS) for key, value in event_dict.items()}


def _escaped(value: Any, multiline: bool) -> Any:
    if not isinstance(value, str):
        return value

    def escape(found: re.Match[str]) -> str:
        character = found.group()
        return character if multiline and character == "\n" else f"\\x{ord(character):02x}"

    return _CONTROL_CHARACTER.sub(escape, value)


class MessagesWithoutBodies(logging.Filter):
    """Rewrites a log record's arguments that are Dramatiq messages into
    ``actor_name#message_id``: the record is kept, its bodies are not."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(map(_is_message, record.args)):
            record.args = tuple(_named(each) if _is_message(each) else each for each in record.args)
        return True


def _is_message(value: object) -> bool:
    return isinstance(value, Message | MessageProxy)


def _named(message: Any) -> str:
    return f"{message.actor_name}#{message.message_id}"
