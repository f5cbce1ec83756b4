"""What every ``residuo`` verb shares: settings, the runtime, one-line errors."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Final, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.exc import OperationalError

from ledger.calendar import FIRST_REPRESENTABLE, LAST_REPRESENTABLE, representable
from residuo.bootstrap import Runtime, SchemaNotReadyError, bootstrap, ensure_schema, wall_clock
from residuo.connection_urls import shown_url
from residuo.printable import first_line
from residuo.replay import aware_instant
from residuo.settings import Settings

__all__ = [
    "CALENDAR",
    "AsJson",
    "AsOf",
    "Customer",
    "KnownAt",
    "fail",
    "load_settings",
    "open_runtime",
    "parse_as_of",
    "parse_known_at",
]

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Business time, ISO 8601 with an offset (2026-03-01T00:00:00+01:00). Default: now.",
        show_default=False,
    ),
]
KnownAt = Annotated[
    str | None,
    typer.Option(
        "--known-at",
        help="Recorded time, ISO 8601 with an offset: the books as they were written by "
        "then, before later corrections. Default: as they stand.",
        show_default=False,
    ),
]
CALENDAR: Final = (
    f"{FIRST_REPRESENTABLE.isoformat()} to {LAST_REPRESENTABLE.isoformat()} "
    "(years 1 to 9999, a day's margin at each end)"
)
"""The instants a command accepts, as its errors say."""

AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Customer = Annotated[str, typer.Argument(metavar="CUSTOMER", help="The customer_id.")]


def fail(message: str, *, status: int = 2) -> NoReturn:
    typer.echo(f"residuo: error: {message}", err=True)
    raise typer.Exit(status)


def load_settings() -> Settings:
    """The settings from the environment, or a one-line error naming what is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        errors = error.errors(include_url=False)
        problems = "; ".join(_problem(each["loc"], each["msg"]) for each in errors)
        fail(f"invalid settings: {problems}")
    except SettingsError as error:
        # A value pydantic-settings could not even decode (a tuple or a mapping not
        # given as JSON): its message names the field, never the value.
        fail(
            f"invalid settings: {error}; tuples, sets and mappings are given as JSON, "
            "e.g. RESIDUO_POLICY__CREDIT_REMINDER_DAYS='[30, 7, 1]'"
        )


def _problem(location: tuple[int | str, ...], message: str) -> str:
    # A check of several settings together (the event time window) has no location:
    # its message names the settings itself.
    if not location:
        return message
    return f"RESIDUO_{'__'.join(str(part) for part in location).upper()}: {message}"


def parse_as_of(text: str | None, *, option: str = "--as-of") -> datetime:
    if text is None:
        return wall_clock()
    instant = aware_instant(text)
    if instant is None:
        fail(f"{option} {text!r} must be ISO 8601 with an offset, e.g. 2026-03-01T00:00:00+01:00")
    if not representable(instant):
        fail(f"{option} {text} is outside the calendar residuo computes in: {CALENDAR}")
    return instant


def parse_known_at(text: str | None) -> datetime | None:
    return None if text is None else parse_as_of(text, option="--known-at")


@contextmanager
def open_runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime whose schema is ready; database trouble becomes a one-line error."""
    where = shown_url(settings.database_url)
    try:
        with bootstrap(settings) as runtime:
            ensure_schema(runtime.engine)
            yield runtime
    except SchemaNotReadyError as error:
        fail(str(error), status=1)
    except OperationalError as error:
        fail(f"cannot use the database {where}: {first_line(error.orig)}", status=1)
