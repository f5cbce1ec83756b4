"""What every ``residuo`` verb shares: settings, the runtime, one-line errors."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from residuo.bootstrap import Runtime, SchemaNotReadyError, bootstrap, ensure_schema, wall_clock
from residuo.printable import first_line
from residuo.replay import aware_instant
from residuo.settings import Settings

__all__ = [
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
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Customer = Annotated[str, typer.Argument(metavar="CUSTOMER", help="The customer_id.")]


def fail(message: str, *, status: int = 2) -> NoReturn:
    typer.echo(f"residuo: error: {message}", err=True)
    raise typer.Exit(status)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"RESIDUO_{'__'.join(str(part) for part in each['loc']).upper()}: {each['msg']}"
            for each in error.errors(include_url=False)
        )
        fail(f"invalid settings: {problems}")


def parse_as_of(text: str | None, *, option: str = "--as-of") -> datetime:
    if text is None:
        return wall_clock()
    instant = aware_instant(text)
    if instant is None:
        fail(f"{option} {text!r} must be ISO 8601 with an offset, e.g. 2026-03-01T00:00:00+01:00")
    return instant


def parse_known_at(text: str | None) -> datetime | None:
    return None if text is None else parse_as_of(text, option="--known-at")


@contextmanager
def open_runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime whose schema is ready; database trouble becomes a one-line error."""
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        with bootstrap(settings) as runtime:
            ensure_schema(runtime.engine)
            yield runtime
    except SchemaNotReadyError as error:
        fail(str(error), status=1)
    except OperationalError as error:
        fail(f"cannot use the database {where}: {first_line(error.orig)}", status=1)
