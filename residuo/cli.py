"""The ``residuo`` command line (SPEC §4): the embedded pipeline and the books.

Every command starts from ``residuo.bootstrap``. Errors are one line on stderr,
``residuo: error: …``, with exit status 2 for a bad invocation or input and 1 for
an environment that does not work (database unreachable, schema not migrated).
"""

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from dramatiq.errors import ConnectionClosed
from pika.exceptions import AMQPError
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ledger import queries
from ledger.store.migrate import current_revision, upgrade
from ledger.sweeps import SWEEPS
from residuo.bootstrap import Runtime, SchemaNotReadyError, bootstrap, ensure_schema, wall_clock
from residuo.dead_letter_views import dead_letters_document, dead_letters_table
from residuo.demo import run_demo
from residuo.processes import run_relay, run_worker, stop_on_signals
from residuo.render import (
    balance_document,
    balance_table,
    statement_document,
    statement_table,
    sweep_table,
)
from residuo.replay import BadLineError, Replayer, aware_instant, parse_line, split_lines
from residuo.settings import Settings
from residuo.status import collect, status_document, status_tables
from scheduler.process import run_scheduler
from workers.actors import EVENTS_QUEUE
from workers.broker import MEMORY_BROKER_URL
from workers.ingress import publish_event
from workers.rabbitmq.broker import ResiduoRabbitmqBroker
from workers.rabbitmq.dead_letter_queue import (
    DeadLetterQueueMissingError,
    list_dead_letters,
    replay_dead_letters,
)
from workers.rabbitmq.topology import EVENTS_EXCHANGE
from workers.relay import JsonLinesPublisher

__all__ = ["app"]

app = typer.Typer(
    name="residuo",
    help="Residual customer credit: events in, double-entry books, notifications out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_SWEEP_KINDS = ("all", *SWEEPS)

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Business time, ISO 8601 with an offset (2026-03-01T00:00:00+01:00). Default: now.",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Customer = Annotated[str, typer.Argument(metavar="CUSTOMER", help="The customer_id.")]


def _fail(message: str, *, status: int = 2) -> NoReturn:
    typer.echo(f"residuo: error: {message}", err=True)
    raise typer.Exit(status)


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"RESIDUO_{'__'.join(str(part) for part in each['loc']).upper()}: {each['msg']}"
            for each in error.errors(include_url=False)
        )
        _fail(f"invalid settings: {problems}")


def _as_of(text: str | None) -> datetime:
    if text is None:
        return wall_clock()
    instant = aware_instant(text)
    if instant is None:
        _fail(f"--as-of {text!r} must be ISO 8601 with an offset, e.g. 2026-03-01T00:00:00+01:00")
    return instant


@contextmanager
def _runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime whose schema is ready; database trouble becomes a one-line error."""
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        with bootstrap(settings) as runtime:
            ensure_schema(runtime.engine)
            yield runtime
    except SchemaNotReadyError as error:
        _fail(str(error), status=1)
    except OperationalError as error:
        _fail(f"cannot use the database {where}: {_first_line(error.orig)}", status=1)


@app.command()
def demo() -> None:
    """Run the bundled scenario in one process and narrate it (nothing is kept)."""
    run_demo(Console(), _settings())


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
        _fail(f"cannot read {file}: {error.strerror}")
    settings = _settings().model_copy(update={"broker_url": MEMORY_BROKER_URL})
    try:
        stream = sys.stdout if out is None else out.open("w", encoding="utf-8")
    except OSError as error:
        _fail(f"cannot write {out}: {error.strerror}")
    failed = rejected = skipped = published = 0
    with (
        stream,
        _runtime(settings) as runtime,
        Replayer(runtime, JsonLinesPublisher(stream)) as replayer,
    ):
        for number, raw in split_lines(data):
            try:
                line = parse_line(raw)
            except BadLineError as error:
                typer.echo(f"line {number}: skipped: {error}", err=True)
                skipped += 1
                continue
            outcome = replayer.feed(number, line)
            published += outcome.published
            for problem in outcome.problems:
                typer.echo(
                    f"line {number}: {problem.status}, dead-lettered: {problem.detail}", err=True
                )
                rejected += problem.status == "rejected"
                failed += problem.status == "failed"
    typer.echo(
        f"replayed {file}: {published} notifications; {rejected} rejected, "
        f"{failed} failed, {skipped} skipped lines",
        err=True,
    )
    if failed:
        raise typer.Exit(1)


@app.command()
def balance(customer: Customer, as_of: AsOf = None, as_json: AsJson = False) -> None:
    """Available credit of CUSTOMER, and each of their credits."""
    instant = _as_of(as_of)
    settings = _settings()
    with _runtime(settings) as runtime:
        result = queries.balance(runtime.engine, customer, instant)
    if as_json:
        typer.echo(json.dumps(balance_document(result, settings.policy), indent=2))
    elif not result.credits:
        typer.echo(f"{customer}: no credit on record.")
    else:
        Console().print(balance_table(result, settings.policy))


@app.command()
def statement(customer: Customer, as_json: AsJson = False) -> None:
    """The ledger entries of CUSTOMER, oldest first."""
    settings = _settings()
    with _runtime(settings) as runtime:
        lines = queries.statement(runtime.engine, customer)
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
        _fail(f"unknown sweep kind {kind!r}; known: {', '.join(_SWEEP_KINDS)}")
    instant = _as_of(as_of)
    settings = _settings()
    with _runtime(settings) as runtime:
        tallies = runtime.ledger.sweep(kind, instant)
    Console().print(sweep_table(tallies, settings.policy))


@app.command()
def scheduler() -> None:
    """Send the daily sweeps at the configured local time, once per day; stop on SIGTERM."""
    settings = _settings()
    with (
        _rabbitmq(settings, "scheduler"),
        _runtime(settings) as runtime,
        stop_on_signals() as stop,
    ):
        run_scheduler(runtime, settings.scheduler, stop=stop)


@app.command()
def migrate() -> None:
    """Create the schema, or upgrade it to the code's newest revision."""
    settings = _settings()
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        with bootstrap(settings) as runtime:
            upgrade(runtime.engine)
            revision = current_revision(runtime.engine)
    except OperationalError as error:
        _fail(f"cannot use the database {where}: {_first_line(error.orig)}", status=1)
    typer.echo(f"{where}: schema at revision {revision}")


# The RabbitMQ path: publish, the long-running worker and relay, status, dead letters.

QueueOption = Annotated[
    str | None,
    typer.Option("--queue", help="Only this queue's dead letters (e.g. residuo.events)."),
]


@contextmanager
def _rabbitmq(settings: Settings, verb: str) -> Iterator[None]:
    """Refuse the embedded broker; a broker that cannot be used is a one-line error."""
    if settings.embedded_broker:
        _fail(f"`residuo {verb}` needs RabbitMQ: set RESIDUO_BROKER_URL=amqp://…")
    where = make_url(settings.broker_url).render_as_string(hide_password=True)
    try:
        yield
    except (AMQPError, ConnectionClosed, OSError) as error:
        _fail(f"cannot use RabbitMQ at {where}: {error!r}", status=1)


def _rabbitmq_broker(runtime: Runtime) -> ResiduoRabbitmqBroker:
    assert isinstance(runtime.broker, ResiduoRabbitmqBroker), "guarded by _rabbitmq"
    return runtime.broker


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="One CloudEvent, as JSON.")],
) -> None:
    """Publish FILE as upstream would: exchange residuo.events, routing key = its type."""
    try:
        body = file.read_bytes()
    except OSError as error:
        _fail(f"cannot read {file}: {error.strerror}")
    settings = _settings()
    with _rabbitmq(settings, "publish"), bootstrap(settings) as runtime:
        routing_key = publish_event(_rabbitmq_broker(runtime), body)
    typer.echo(f"published {file} to exchange {EVENTS_EXCHANGE}, routing key {routing_key}")


@app.command()
def worker(
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="Worker threads. Default: RESIDUO_WORKER_THREADS."),
    ] = None,
) -> None:
    """Run the actors on RabbitMQ until SIGTERM or SIGINT; in-flight messages finish first."""
    settings = _settings()
    with _rabbitmq(settings, "worker"), _runtime(settings) as runtime, stop_on_signals() as stop:
        run_worker(runtime, threads=threads or settings.worker_threads, stop=stop)


@app.command()
def relay() -> None:
    """Publish the outbox to RabbitMQ until SIGTERM or SIGINT (one active relay at a time)."""
    settings = _settings()
    with _rabbitmq(settings, "relay"), _runtime(settings) as runtime, stop_on_signals() as stop:
        run_relay(runtime, stop=stop)


@app.command()
def status(as_json: AsJson = False) -> None:
    """Queue depths, dead letters, the outbox backlog and parked or rejected events."""
    settings = _settings()
    with _runtime(settings) as runtime:
        sections = collect(runtime)
    if as_json:
        typer.echo(json.dumps(status_document(sections), indent=2))
    else:
        console = Console()
        for table in status_tables(sections):
            console.print(table)
    if any(each.problem for each in sections):
        raise typer.Exit(1)


dead_letters_app = typer.Typer(
    help="Inspect and re-drive dead-lettered messages.", no_args_is_help=True
)
app.add_typer(dead_letters_app, name="dead-letters")


@dead_letters_app.command("list")
def list_dead_letters_command(
    queue: QueueOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many a queue.")] = 100,
    as_json: AsJson = False,
) -> None:
    """Dead letters, oldest first, with why each was dead-lettered; nothing is removed."""
    settings = _settings()
    with _rabbitmq(settings, "dead-letters list"), bootstrap(settings) as runtime:
        queues = [queue] if queue else sorted(runtime.broker.get_declared_queues())
        letters = list_dead_letters(settings.broker_url, queues, limit=limit)
    if as_json:
        typer.echo(json.dumps(dead_letters_document(letters), indent=2))
    else:
        Console().print(dead_letters_table(letters))


@dead_letters_app.command("replay")
def replay_dead_letters_command(
    ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ID]...", help="Event ids or message ids, as `list` shows."),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    queue: Annotated[
        str, typer.Option("--queue", help="The queue whose dead letters to replay.")
    ] = EVENTS_QUEUE,
) -> None:
    """Send dead letters back to their queue; each leaves the dead-letter queue only once
    RabbitMQ confirmed its new copy."""
    wanted = set(ids or ())
    if not wanted and not every:
        _fail("name the dead letters to replay (event or message ids), or give --all")
    settings = _settings()
    with _rabbitmq(settings, "dead-letters replay"):
        try:
            replayed = replay_dead_letters(
                settings.broker_url, queue, lambda letter: every or any(map(letter.matches, wanted))
            )
        except DeadLetterQueueMissingError as error:
            _fail(str(error))
    typer.echo(f"replayed {len(replayed)} dead letters to {queue}")
    found = {each for each in wanted if any(letter.matches(each) for letter in replayed)}
    missing = sorted(wanted - found)
    if missing:
        _fail(f"no dead letter in {queue} for: {', '.join(missing)}", status=1)
