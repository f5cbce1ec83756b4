"""The long-running processes and the ops verbs of ``residuo``: they need RabbitMQ.

``worker``, ``relay``, ``scheduler`` and ``metrics`` run until SIGTERM; ``publish``,
``status``, ``health`` and ``dead-letters`` are what ops reach for. Registered on the app by
``residuo.cli``.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Final

import typer
from dramatiq.common import xq_name
from dramatiq.errors import ConnectionClosed
from pika.exceptions import AMQPError
from rich.console import Console

from ledger.dead_letters import Disposition
from residuo.bootstrap import Runtime, bootstrap
from residuo.cli_support import AsJson, fail, load_settings, open_runtime
from residuo.connection_urls import shown_url
from residuo.dead_letter_ops import current_operator, reference, replay_refusals, resolutions
from residuo.dead_letter_views import dead_letters_document, print_dead_letters
from residuo.health import DEFAULT_TIMEOUT_S, NotReadyError, read_readiness, shown_metrics_url
from residuo.metrics import status_registry
from residuo.processes import run_relay, run_worker, serve_metrics, stop_on_signals
from residuo.settings import Settings
from residuo.status import collect, status_document, status_tables
from residuo.telemetry import DEFAULT_METRICS_HOST, serving_metrics
from scheduler.process import run_scheduler
from workers.actors import EVENTS_QUEUE
from workers.ingress import publish_event
from workers.rabbitmq.broker import ResiduoRabbitmqBroker
from workers.rabbitmq.dead_letter_queue import (
    DeadLetter,
    DeadLetterQueueMissingError,
    list_dead_letters,
    remove_dead_letters,
    replay_dead_letters,
)
from workers.rabbitmq.topology import EVENTS_EXCHANGE

__all__ = [
    "dead_letters_app",
    "health",
    "metrics",
    "publish",
    "relay",
    "scheduler",
    "status",
    "worker",
]

MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve this process's Prometheus metrics on http://HOST:PORT/metrics.",
    ),
]
MetricsHost = Annotated[str, typer.Option("--metrics-host", help="Address the metrics listen on.")]

# Replay, drop and archive read a whole dead-letter queue to choose from it.
_EVERY_DEAD_LETTER: Final = 1_000_000

QueueOption = Annotated[
    str | None,
    typer.Option("--queue", help="Only this queue's dead letters (e.g. residuo.events)."),
]


@contextmanager
def _rabbitmq(settings: Settings, verb: str) -> Iterator[None]:
    """Refuse the embedded broker; a broker that cannot be used is a one-line error."""
    if settings.embedded_broker:
        fail(f"`residuo {verb}` needs RabbitMQ: set RESIDUO_BROKER_URL=amqp://…")
    where = shown_url(settings.broker_url)
    try:
        yield
    except (AMQPError, ConnectionClosed, OSError) as error:
        fail(f"cannot use RabbitMQ at {where}: {error!r}", status=1)


@contextmanager
def _metrics_endpoint(runtime: Runtime, host: str, port: int | None) -> Iterator[None]:
    """Serve the runtime's registry while the process runs, if given a port."""
    with ExitStack() as endpoint:
        if port is not None:
            try:
                endpoint.enter_context(serving_metrics(runtime.registry, host=host, port=port))
            except OSError as error:
                fail(f"cannot serve metrics on {host}:{port}: {error.strerror}", status=1)
        yield


def _rabbitmq_broker(runtime: Runtime) -> ResiduoRabbitmqBroker:
    assert isinstance(runtime.broker, ResiduoRabbitmqBroker), "guarded by _rabbitmq"
    return runtime.broker


def publish(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="One CloudEvent, as JSON.")],
) -> None:
    """Publish FILE as upstream would: exchange residuo.events, routing key = its type."""
    try:
        body = file.read_bytes()
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror}")
    settings = load_settings()
    with _rabbitmq(settings, "publish"), bootstrap(settings) as runtime:
        routing_key = publish_event(_rabbitmq_broker(runtime), body)
    typer.echo(f"published {file} to exchange {EVENTS_EXCHANGE}, routing key {routing_key}")


def worker(
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="Worker threads. Default: RESIDUO_WORKER_THREADS."),
    ] = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_METRICS_HOST,
) -> None:
    """Run the actors on RabbitMQ until SIGTERM or SIGINT; in-flight messages finish first."""
    settings = load_settings()
    with (
        _rabbitmq(settings, "worker"),
        open_runtime(settings) as runtime,
        _metrics_endpoint(runtime, metrics_host, metrics_port),
        stop_on_signals() as stop,
    ):
        run_worker(runtime, threads=threads or settings.worker_threads, stop=stop)


def relay(
    metrics_port: MetricsPort = None, metrics_host: MetricsHost = DEFAULT_METRICS_HOST
) -> None:
    """Publish the outbox to RabbitMQ until SIGTERM or SIGINT (one active relay at a time)."""
    settings = load_settings()
    with (
        _rabbitmq(settings, "relay"),
        open_runtime(settings) as runtime,
        _metrics_endpoint(runtime, metrics_host, metrics_port),
        stop_on_signals() as stop,
    ):
        run_relay(runtime, stop=stop)


def status(as_json: AsJson = False) -> None:
    """Queue depths, dead letters, the outbox backlog, parked or rejected events, sweep runs."""
    settings = load_settings()
    with open_runtime(settings) as runtime:
        sections = collect(runtime)
    if as_json:
        typer.echo(json.dumps(status_document(sections), indent=2))
    else:
        console = Console()
        for table in status_tables(sections):
            console.print(table)
    if any(each.problem for each in sections):
        raise typer.Exit(1)


def metrics(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to serve on.")] = 9464,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = (
        DEFAULT_METRICS_HOST
    ),
) -> None:
    """Serve what `status` shows as Prometheus gauges on http://HOST:PORT/metrics, read
    at each scrape, until SIGTERM or SIGINT."""
    settings = load_settings()
    with open_runtime(settings) as runtime, stop_on_signals() as stop:
        try:
            serve_metrics(status_registry(runtime), host=host, port=port, stop=stop)
        except OSError as error:
            fail(f"cannot serve metrics on {host}:{port}: {error.strerror}", status=1)


def health(
    metrics_url: Annotated[
        str,
        typer.Option(
            "--metrics-url",
            help="The process's metrics endpoint, e.g. http://127.0.0.1:9465/metrics.",
        ),
    ],
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for an answer.")
    ] = DEFAULT_TIMEOUT_S,
) -> None:
    """Exit 0 if the worker, relay or scheduler serving METRICS_URL does its job
    (residuo_process_ready is 1), 1 if it does not or does not answer."""
    try:
        read_readiness(metrics_url, timeout_s=timeout)
    except NotReadyError as error:
        fail(str(error), status=1)
    typer.echo(f"ready: {shown_metrics_url(metrics_url)}")


dead_letters_app = typer.Typer(
    help="Inspect, re-drive, drop or archive dead-lettered messages.", no_args_is_help=True
)

DeadLetterIds = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[ID]...",
        help="Dead-letter ids as `list` shows them (or event ids: every dead letter of it).",
    ),
]
TargetQueue = Annotated[
    str, typer.Option("--queue", help="The queue whose dead letters to act on.")
]
Operator = Annotated[
    str | None,
    typer.Option(
        "--operator",
        envvar="RESIDUO_OPERATOR",
        help="Who decides, for the audit record. Default: the login name, unless it is "
        "`nobody` (the image's user): then this is required.",
    ),
]


@dead_letters_app.command("list")
def list_dead_letters_command(
    queue: QueueOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many a queue.")] = 100,
    as_json: AsJson = False,
) -> None:
    """Dead letters, oldest first, with why each was dead-lettered and whether it is
    resolved (its event is in the books since); nothing is removed."""
    settings = load_settings()
    with _rabbitmq(settings, "dead-letters list"), open_runtime(settings) as runtime:
        queues = [_known_queue(runtime, queue)] if queue else _queues(runtime)
        letters = list_dead_letters(settings.broker_url, queues, limit=limit)
        resolved = resolutions(runtime.ledger, letters)
    if as_json:
        typer.echo(json.dumps(dead_letters_document(letters, resolved), indent=2))
    else:
        print_dead_letters(Console(), letters, resolved)


@dead_letters_app.command("replay")
def replay_dead_letters_command(
    ids: DeadLetterIds = None,
    *,
    every: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    queue: TargetQueue = EVENTS_QUEUE,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replay even what would only bounce back or duplicate."),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, for the audit record.")
    ] = None,
    operator: Operator = None,
) -> None:
    """Send dead letters back to their queue; each leaves the dead-letter queue only once
    RabbitMQ confirmed its new copy and the replay is recorded. An event that still
    fails validation, or whose id is in the books already, is kept unless --force.
    Exit status 1 if a dead letter named or chosen was not replayed."""
    wanted = set(ids or ())
    if not wanted and not every:
        fail("name the dead letters to replay (dead-letter or event ids), or give --all")
    who = _operator(operator)
    settings = load_settings()
    with _rabbitmq(settings, "dead-letters replay"), open_runtime(settings) as runtime:
        _known_queue(runtime, queue)
        chosen = _chosen(settings, queue, lambda letter: every or any(map(letter.matches, wanted)))
        refused = (
            {} if force else replay_refusals(runtime.ledger, chosen, bounds=settings.inbound_bounds)
        )

        def record(letter: DeadLetter) -> None:
            runtime.ledger.record_dead_letter_disposition(
                reference(letter), action="replayed", operator=who, reason=reason
            )

        replaying = {each.dead_letter_id for each in chosen} - set(refused)
        replayed = _settled(
            replaying,
            lambda: replay_dead_letters(
                settings.broker_url,
                queue,
                lambda letter: letter.dead_letter_id in replaying,
                after_publish=record,
            ),
        )
    typer.echo(f"replayed {len(replayed)} dead letters to {queue}")
    for dead_letter_id, why in sorted(refused.items()):
        typer.echo(f"kept {dead_letter_id}: {why} (--force replays it anyway)", err=True)
    _fail_unless_done(
        "replayed", queue, intended=replaying, done=replayed, wanted=wanted, chosen=chosen
    )
    if refused:
        raise typer.Exit(1)


def _settle_command(action: Disposition) -> Callable[..., None]:
    verb = "drop" if action == "dropped" else "archive"
    keeps = "only what identifies it" if action == "dropped" else "its body too"

    def settle(
        ids: DeadLetterIds = None,
        *,
        reason: Annotated[str, typer.Option("--reason", help="Why, for the audit record.")],
        resolved_only: Annotated[
            bool,
            typer.Option("--resolved", help=f"{verb.capitalize()} every resolved dead letter."),
        ] = False,
        queue: TargetQueue = EVENTS_QUEUE,
        operator: Operator = None,
    ) -> None:
        wanted = set(ids or ())
        if not wanted and not resolved_only:
            fail(f"name the dead letters to {verb} (dead-letter or event ids), or give --resolved")
        if not reason.strip():
            fail(f"--reason is required: say why you {verb} them, for the audit record")
        who = _operator(operator)
        settings = load_settings()
        with _rabbitmq(settings, f"dead-letters {verb}"), open_runtime(settings) as runtime:
            _known_queue(runtime, queue)
            # One walk to choose: every letter when the resolved are wanted, to judge them.
            letters = _chosen(
                settings, queue, lambda letter: resolved_only or any(map(letter.matches, wanted))
            )
            resolved = resolutions(runtime.ledger, letters) if resolved_only else {}
            chosen = [
                each
                for each in letters
                if each.dead_letter_id in resolved or any(map(each.matches, wanted))
            ]
            removing = {each.dead_letter_id for each in chosen}

            def record(letter: DeadLetter) -> None:
                runtime.ledger.record_dead_letter_disposition(
                    reference(letter),
                    action=action,
                    operator=who,
                    reason=reason,
                    body=letter.body,
                )

            removed = _settled(
                removing,
                lambda: remove_dead_letters(
                    settings.broker_url,
                    queue,
                    lambda letter: letter.dead_letter_id in removing,
                    before_removal=record,
                ),
            )
        typer.echo(f"{action} {len(removed)} dead letters of {queue}, by {who}")
        _fail_unless_done(
            action, queue, intended=removing, done=removed, wanted=wanted, chosen=chosen
        )

    settle.__doc__ = (
        f"{verb.capitalize()} dead letters: each leaves the dead-letter queue once the "
        f"decision (who, when, why; {keeps}) is in the books. Exit status 1 if a dead "
        f"letter named or chosen was not {action}."
    )
    return settle


dead_letters_app.command("drop")(_settle_command("dropped"))
dead_letters_app.command("archive")(_settle_command("archived"))


def _operator(given: str | None) -> str:
    who = current_operator(given)
    if who is None:
        fail(
            "say who decides, for the audit record: --operator NAME or RESIDUO_OPERATOR=NAME "
            "(this process runs under no person's login name)"
        )
    return who


def _queues(runtime: Runtime) -> list[str]:
    """The queues residuo's actors consume, each with its ``.XQ``."""
    return sorted(runtime.broker.get_declared_queues())


def _known_queue(runtime: Runtime, queue: str) -> str:
    """``queue``, or a one-line error if residuo has no such queue (a typo)."""
    known = _queues(runtime)
    if queue not in known:
        fail(f"--queue {queue!r} is not one of residuo's queues: {', '.join(known)}")
    return queue


def _chosen(
    settings: Settings, queue: str, selected: Callable[[DeadLetter], bool]
) -> list[DeadLetter]:
    """The ``selected`` dead letters of ``queue``, read without removing any (none
    while no worker has consumed ``queue``: its ``.XQ`` does not exist yet)."""
    letters = list_dead_letters(settings.broker_url, [queue], limit=_EVERY_DEAD_LETTER)
    return [each for each in letters if selected(each)]


def _settled(intended: set[str], walk: Callable[[], list[DeadLetter]]) -> list[DeadLetter]:
    """What ``walk`` (the second walk, which acts) settled; no walk when nothing is
    ``intended``, and none settled when the ``.XQ`` went away in between."""
    if not intended:
        return []
    try:
        return walk()
    except DeadLetterQueueMissingError:
        return []


def _fail_unless_done(
    action: str,
    queue: str,
    *,
    intended: set[str],
    done: list[DeadLetter],
    wanted: set[str],
    chosen: list[DeadLetter],
) -> None:
    """Exit 1 naming each dead letter meant to be ``action`` and not, and each id
    ``wanted`` that matched none: a command that did less than asked never exits 0.

    A letter listed by the first walk may be missing from the second: another reader
    (a second ``dead-letters`` command) holds it meanwhile, or it left the queue."""
    problems = []
    missing = sorted(each for each in wanted if not any(letter.matches(each) for letter in chosen))
    if missing:
        problems.append(f"no dead letter in {queue} for: {', '.join(missing)}")
    undone = sorted(intended - {each.dead_letter_id for each in done})
    if undone:
        problems.append(
            f"not {action}, no longer found in {xq_name(queue)} (another reader holds it, "
            f"or it left the queue since it was listed; run the command again): "
            f"{', '.join(undone)}"
        )
    if problems:
        fail("; ".join(problems), status=1)


def scheduler(
    metrics_port: MetricsPort = None, metrics_host: MetricsHost = DEFAULT_METRICS_HOST
) -> None:
    """Send the daily sweeps at the configured local time, once per day; stop on SIGTERM."""
    settings = load_settings()
    with (
        _rabbitmq(settings, "scheduler"),
        open_runtime(settings) as runtime,
        _metrics_endpoint(runtime, metrics_host, metrics_port),
        stop_on_signals() as stop,
    ):
        run_scheduler(runtime, settings.scheduler, stop=stop)
