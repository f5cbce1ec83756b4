"""The ``residuo`` command line (SPEC §4): the embedded pipeline and the books here,
the processes and ops verbs in ``residuo.cli_ops``, shared helpers in ``cli_support``.

Every command starts from ``residuo.bootstrap``. Errors are one line on stderr,
``residuo: error: …``, with exit status 2 for a bad invocation or input and 1 for
an environment that does not work (database unreachable, schema not migrated).
"""

import json
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from ledger import queries
from ledger.store.migrate import current_revision, upgrade
from ledger.sweeps import SWEEPS
from residuo import cli_adjust, cli_ops, contract
from residuo.bootstrap import bootstrap, wall_clock
from residuo.cli_reports import report_app
from residuo.cli_support import (
    AsJson,
    AsOf,
    Customer,
    KnownAt,
    fail,
    load_settings,
    open_runtime,
    parse_as_of,
    parse_known_at,
)
from residuo.connection_urls import shown_url
from residuo.demo import run_demo
from residuo.printable import first_line, printable
from residuo.render import (
    balance_document,
    balance_table,
    statement_document,
    statement_table,
    sweep_table,
)
from residuo.replay import BadLineError, parse_line, replaying, split_lines
from workers.backoff import Deadline, delays_ms, sleep_ms
from workers.broker import MEMORY_BROKER_URL
from workers.relay import JsonLinesPublisher, RelayActiveError

__all__ = ["app", "main"]

app = typer.Typer(
    name="residuo",
    help="Residual customer credit: events in, double-entry books, notifications out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_SWEEP_KINDS = ("all", *SWEEPS)

# `migrate --wait`: how often a database that is still starting is tried again.
_FIRST_RETRY_MS = 500
_MAX_RETRY_MS = 5_000
# What waiting never changes: PostgreSQL refusing the credentials or the login itself
# (SQLSTATE class 28, a missing CONNECT privilege) and libpq having no password to
# send. libpq reports no SQLSTATE for a connection that failed, so its English text is
# all there is to read; a server speaking another language is retried as before.
_REFUSED_FOR_GOOD = re.compile(
    r"authentication failed|role \".*\" does not exist|is not permitted to log in"
    r"|no pg_hba\.conf entry|pg_hba\.conf rejects|permission denied for database"
    r"|no password supplied"
)


@app.command()
def demo() -> None:
    """Run the bundled scenario in one process and narrate it (nothing is kept)."""
    run_demo(Console(), load_settings())


@app.command()
def replay(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="JSON lines: inbound CloudEvents and sweeps.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write notifications here instead of stdout.", dir_okay=False),
    ] = None,
) -> None:
    """Feed FILE through the real actors, in order; write each notification as a JSON line."""
    try:
        data = file.read_bytes()
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror}")
    settings = load_settings().model_copy(update={"broker_url": MEMORY_BROKER_URL})
    try:
        stream = sys.stdout if out is None else out.open("w", encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror}")
    failed = rejected = skipped = published = 0
    try:
        with (
            stream,
            open_runtime(settings) as runtime,
            replaying(runtime, JsonLinesPublisher(stream)) as replayer,
        ):
            for number, raw in split_lines(data):
                try:
                    line = parse_line(raw)
                except BadLineError as error:
                    typer.echo(f"line {number}: skipped: {printable(error)}", err=True)
                    skipped += 1
                    continue
                outcome = replayer.feed(number, line)
                published += outcome.published
                for problem in outcome.problems:
                    typer.echo(
                        f"line {number}: {problem.status}, dead-lettered: "
                        f"{printable(problem.detail)}",
                        err=True,
                    )
                    rejected += problem.status == "rejected"
                    failed += problem.status == "failed"
    except RelayActiveError:
        fail(
            "a relay is active on this database: stop it, or replay into a database "
            "of the replay's own (see docs/cli.md)"
        )
    typer.echo(
        f"replayed {file}: {published} notifications; {rejected} rejected, "
        f"{failed} failed, {skipped} skipped lines",
        err=True,
    )
    if failed:
        raise typer.Exit(1)


@app.command()
def balance(
    customer: Customer, as_of: AsOf = None, known_at: KnownAt = None, as_json: AsJson = False
) -> None:
    """Available credit of CUSTOMER, and each of their credits."""
    instant, recorded = parse_as_of(as_of), parse_known_at(known_at)
    settings = load_settings()
    with open_runtime(settings) as runtime:
        result = queries.balance(runtime.engine, customer, instant, known_at=recorded)
    if as_json:
        typer.echo(json.dumps(balance_document(result, settings.policy), indent=2))
    elif not result.credits:
        typer.echo(f"{customer}: no credit on record.")
    else:
        Console().print(balance_table(result, settings.policy))


@app.command()
def statement(customer: Customer, known_at: KnownAt = None, as_json: AsJson = False) -> None:
    """The ledger entries of CUSTOMER, oldest first: when each happened, when it was
    booked, and the corrections that reversed or replaced it."""
    recorded = parse_known_at(known_at)
    settings = load_settings()
    with open_runtime(settings) as runtime:
        lines = queries.statement(runtime.engine, customer, known_at=recorded)
    if as_json:
        typer.echo(json.dumps(statement_document(customer, lines, settings.policy), indent=2))
    elif not lines:
        typer.echo(f"{customer}: no ledger entries.")
    else:
        Console().print(statement_table(customer, lines, settings.policy))


@app.command()
def sweep(
    kind: Annotated[
        str, typer.Argument(metavar="KIND", help=f"One of: {', '.join(_SWEEP_KINDS)}.")
    ],
    as_of: AsOf = None,
) -> None:
    """Run a sweep now, in this process; its notifications wait in the outbox for the relay."""
    if kind not in _SWEEP_KINDS:
        fail(f"unknown sweep kind {kind!r}; known: {', '.join(_SWEEP_KINDS)}")
    instant = parse_as_of(as_of)
    if instant > wall_clock():
        # Run early, an expiry sweep would forfeit credit the customer may still use
        # (R2); a replay file is the place for simulated dates.
        fail(f"--as-of {as_of} is in the future: a sweep settles only what has fallen due")
    settings = load_settings()
    with open_runtime(settings) as runtime:
        tallies = runtime.ledger.sweep(kind, instant)
    Console().print(sweep_table(tallies, settings.policy))


@app.command()
def migrate(
    wait: Annotated[
        int,
        typer.Option(
            "--wait",
            min=0,
            metavar="SECONDS",
            help="Retry a database that cannot be reached yet for up to SECONDS "
            "(a stack starting up). Default: try once.",
        ),
    ] = 0,
) -> None:
    """Create the schema, or upgrade it to the code's newest revision."""
    settings = load_settings()
    where = shown_url(settings.database_url)
    try:
        with bootstrap(settings) as runtime:
            _upgrade_once_reachable(runtime.engine, where, Deadline.after_ms(wait * 1000))
            revision = current_revision(runtime.engine)
    except OperationalError as error:
        why = first_line(error.orig)
        if _refused_for_good(error):
            why += " (credentials refused: --wait does not retry them)"
        fail(f"cannot use the database {where}: {why}", status=1)
    typer.echo(f"{where}: schema at revision {revision}")


def _refused_for_good(error: OperationalError) -> bool:
    return _REFUSED_FOR_GOOD.search(str(error.orig)) is not None


def _upgrade_once_reachable(engine: Engine, where: str, deadline: Deadline) -> None:
    """Upgrade the schema, retrying with backoff (half a second, doubling, at most five)
    while the database refuses connections and ``deadline`` allows; then the last
    ``OperationalError`` is raised, and at once if it refuses the credentials."""
    for delay_ms in delays_ms(first_ms=_FIRST_RETRY_MS, max_ms=_MAX_RETRY_MS):
        try:
            upgrade(engine)
        except OperationalError as error:
            if _refused_for_good(error) or not deadline.allows_ms(delay_ms):
                raise
            typer.echo(
                f"residuo: {where} not reachable yet ({first_line(error.orig)}); "
                f"retrying in {delay_ms / 1000:g} s",
                err=True,
            )
            sleep_ms(delay_ms)
        else:
            return


# The RabbitMQ path: publish, the long-running worker and relay, status, dead letters.


# The processes and the ops verbs live in residuo.cli_ops; one app shows them all.
app.command()(cli_ops.publish)
app.command()(cli_ops.worker)
app.command()(cli_ops.relay)
app.command()(cli_ops.scheduler)
app.command()(cli_ops.status)
app.command()(cli_ops.metrics)
app.command()(cli_ops.health)
app.add_typer(cli_ops.dead_letters_app, name="dead-letters")
app.add_typer(cli_adjust.adjust_app, name="adjust")
app.add_typer(report_app, name="report")

contract_app = typer.Typer(help="The machine-readable contract.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")


@contract_app.command("export")
def export_contract(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="Where to write it (docs/contract in the repository)."),
    ],
) -> None:
    """Write the JSON Schemas of every event and notification and the AsyncAPI document,
    generated from the models, under DIR."""
    try:
        written = contract.export(directory)
    except OSError as error:
        fail(f"cannot write under {directory}: {error.strerror}")
    typer.echo(f"wrote {len(written)} files under {directory}")


def main() -> None:
    """The ``residuo`` executable: ``app``, with a mistyped invocation (unknown option,
    a value its type refuses) reported in one line like every other error, not in
    Click's usage text and Typer's panel (log alerts and people grep for
    ``residuo: error:``). Exit status: the command's, 2 for a bad invocation."""
    try:
        status = app(standalone_mode=False)
    except typer.TyperException as error:
        # Click's exceptions, as Typer exports them: a usage error's message names the
        # option ("Invalid value for '--wait': …").
        said = error.format_message().strip().splitlines() or [type(error).__name__]
        typer.echo(f"residuo: error: {printable(said[0])}", err=True)
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo("residuo: error: aborted", err=True)
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)
