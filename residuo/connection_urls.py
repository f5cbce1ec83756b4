"""The database and broker URLs of the settings: which are accepted, what in them is
secret, and how they are printed.

A password can sit in two places of a URL: ``user:password@host`` and, for libpq, a
query parameter (``?password=…``, ``?sslpassword=…``: the usual way round a password
full of URL syntax). Both are secrets (``Settings.secrets`` masks them in logs) and
both are masked when a URL is printed (``shown_url``).

A URL is checked when the settings load, so that a mistake is one line naming the
setting, never a traceback of the driver that first parses it; the messages never
repeat the URL, which may hold a password.
"""

from collections.abc import Iterator
from typing import Final
from urllib.parse import unquote, unquote_plus, urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ledger.store.database import normalise_database_url

__all__ = ["check_database_url", "check_server_urls", "shown_url", "url_secrets"]

_SECRET_PARAMETERS: Final = ("password", "sslpassword")
_MASK: Final = "***"
_BACKENDS: Final = ("sqlite", "postgresql")
_DATABASE_FORMS: Final = "sqlite:///FILE or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
_UNREADABLE_HOST: Final = (
    "its host or port cannot be read: a port is a number, an IPv6 address is "
    "written in [brackets], a password with URL syntax in it is percent-encoded"
)


def check_database_url(url: str) -> None:
    """Raise ValueError unless ``url`` is a SQLite or PostgreSQL URL residuo can use."""
    try:
        parsed = normalise_database_url(url)
    except ArgumentError:
        raise ValueError(f"not a database URL: expected {_DATABASE_FORMS}") from None
    except ValueError:
        raise ValueError(_UNREADABLE_HOST) from None
    _check_host_and_port(url)
    backend = parsed.get_backend_name()
    if backend not in _BACKENDS:
        raise ValueError(f"residuo keeps its books in SQLite or PostgreSQL, not {backend}")
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError:
        raise ValueError(
            f"the driver of {parsed.drivername} is not installed: use {_DATABASE_FORMS}"
        ) from None


def check_server_urls(url: str) -> None:
    """Raise ValueError unless every ``;``-separated URL of ``url`` has a readable
    host and port (a cluster lists its nodes so)."""
    for each in url.split(";"):
        _check_host_and_port(each)


def url_secrets(url: str) -> Iterator[str]:
    """The passwords ``url`` holds, as written and decoded (see the module)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        yield parts.password
        yield unquote(parts.password)
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if value and unquote_plus(name) in _SECRET_PARAMETERS:
            yield value
            yield unquote_plus(value)


def shown_url(url: str) -> str:
    """``url`` fit to print: its password and password parameters masked; each URL of
    a ``;``-separated list alike."""
    return ";".join(_shown(each) for each in url.split(";"))


def _shown(url: str) -> str:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "(a URL that cannot be read)"
    masked = {name: _MASK for name in parsed.query if name in _SECRET_PARAMETERS}
    return parsed.update_query_dict(masked).render_as_string(hide_password=True)


def _check_host_and_port(url: str) -> None:
    try:
        _ = urlsplit(url).port
    except ValueError:
        # Not the parser's message: it quotes the offending part, which may be a
        # password typed where the port goes.
        raise ValueError(_UNREADABLE_HOST) from None
