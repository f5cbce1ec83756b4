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
  included (``workers.middleware.BindLogContext`` binds it), wherever one stands as
  a whole token: not as part of a longer one (customer ``42`` leaves ``evt-42``,
  ``MI0420`` and ``10:42:00`` alone). A token is a run of letters and digits joined
  by ``-``, ``.``, ``:``, ``/``, ``+``, ``@`` or ``_``; a sentence's last full stop
  does not join.
* `escape_control_characters` writes what ``residuo.printable`` escapes (control and
  format characters, line and paragraph separators, lone surrogates: ``\\x1b``,
  ``\\u202e``) as its escape in console lines (JSON lines escape them already): an
  id from upstream cannot move a terminal's cursor, reverse the rest of a line or
  forge one. Identifiers are not refused for holding a format character: the
  console is one reader among several, and every human-facing output escapes.
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

from residuo.printable import printable

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
# Characters that join a customer id to its neighbours into a longer token when a
# letter or digit stands beyond them: "evt-42", "10:42:00", "MI.42".
_JOINERS: Final = r"[-.:/+@_]"
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
            text = _whole_token(customer).sub(self.pseudonym(customer), text)
        return text


def _whole_token(customer: str) -> re.Pattern[str]:
    """Where ``customer`` stands in a text as a token of its own (see the module)."""
    return re.compile(rf"(?<!\w)(?<!\w{_JOINERS}){re.escape(customer)}(?!\w)(?!{_JOINERS}\w)")


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
    """A structlog processor for console lines: every value as ``residuo.printable``
    shows it (a traceback keeps its line breaks)."""
    return {key: _escaped(value, key in _MULTILINE_KEYS) for key, value in event_dict.items()}


def _escaped(value: Any, multiline: bool) -> Any:
    if not isinstance(value, str):
        return value
    if multiline:
        return "\n".join(printable(line) for line in value.split("\n"))
    return printable(value)


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
