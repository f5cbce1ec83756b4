"""``residuo status``: how the pipeline is doing, one section per concern.

Each section comes from a provider, a function of the runtime; ``SECTIONS`` lists
them in the order shown. A new concern is a new provider appended there: the
command, its tables and its JSON document follow. A provider that cannot read what
it reports (the broker or the database unreachable) returns its section with a
``problem`` instead of raising, so the other sections are still shown, each scrape of
``residuo metrics`` still answers (``residuo_status_up{section}`` 0), and the command
exits with status 1.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import pika.exceptions
from dramatiq.common import dq_name, xq_name
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from ledger.dead_letters import DeadLettersOnRecord
from ledger.store import schema
from residuo.bootstrap import Runtime
from residuo.printable import first_line, shown
from scheduler.runs import last_runs
from workers.actors import EVENTS_QUEUE
from workers.rabbitmq.admin import QueueDepth, queue_depths
from workers.rabbitmq.management import ManagementApi, QueueCounts
from workers.rabbitmq.topology import NOTIFICATIONS_QUEUE

__all__ = [
    "SECTIONS",
    "Section",
    "SectionProvider",
    "collect",
    "dead_letters_section",
    "events_section",
    "outbox_section",
    "queues_section",
    "status_document",
    "status_tables",
    "sweeps_section",
]

_BROKER_ERRORS: Final = (pika.exceptions.AMQPError, OSError)

_INBOUND_DEAD_LETTERS: Final = xq_name(EVENTS_QUEUE)
_OUTBOX_COLUMNS: Final = ("unpublished", "oldest_created_at", "oldest_age_seconds")
_EVENTS_COLUMNS: Final = ("parked", "oldest_parked_age_seconds", "rejected")
_EMBEDDED_NOTE: Final = "the embedded broker (RESIDUO_BROKER_URL=memory) keeps no queues"


@dataclass(frozen=True, slots=True)
class Section:
    """One part of the status: rows under ``columns``, or why they could not be read.

    ``key`` names the section in the JSON document; each row maps every column to a
    JSON value (``None`` shows as a dash). ``note`` is said, ``problem`` is a failure.
    """

    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    problem: str | None = None


SectionProvider = Callable[[Runtime], Section]


def queues_section(runtime: Runtime) -> Section:
    """Messages ready and held unacknowledged (in flight, or a retry waiting for its
    time in a worker: a ``.DQ``), and consumers, of every work queue, its delay queue
    and the notifications queue.

    Ready messages and consumers come over AMQP; unacknowledged ones only from the
    management API (``workers.rabbitmq.management``): without it they are unknown
    (``null``), and a note says why.
    """
    columns = ("queue", "ready", "unacked", "consumers")
    if runtime.settings.embedded_broker:
        return Section("queues", "Queues", columns, note=_EMBEDDED_NOTE)
    names = [each for queue in _work_queues(runtime) for each in (queue, dq_name(queue))]
    try:
        depths = queue_depths(runtime.settings.broker_url, [*names, NOTIFICATIONS_QUEUE])
    except _BROKER_ERRORS as error:
        return Section("queues", "Queues", columns, problem=f"RabbitMQ unreachable: {error!r}")
    counts, unknown = _held_counts(runtime)
    note = None if unknown is None else f"unacked unknown: {unknown}"
    rows = [
        {
            "queue": d.queue,
            "ready": d.ready,
            "unacked": counts[d.queue].unacknowledged if d.queue in counts else None,
            "consumers": d.consumers,
        }
        for d in depths
    ]
    return Section("queues", "Queues", columns, rows, note=note)


def dead_letters_section(runtime: Runtime) -> Section:
    """Messages waiting in each dead-letter queue (``residuo dead-letters list``), how
    many of them are resolved (their event is in the books since: they need no one,
    and ``dead-letters archive --resolved`` clears them) and how many are not.

    Nothing is read from the queues themselves: a read would hide the letters from
    every other reader while it lasts and, on a quorum queue, spend one of each
    letter's delivery attempts (``docs/rabbitmq.md``, "A cluster"). ``messages`` is
    the larger of what AMQP counts ready now and what the management API counted,
    ready or held by a reader, at its last sample (a few seconds old); without the
    API, letters a reader holds are left out and a note says so. ``resolved`` comes
    from the books (``ledger.dead_letters``), for ``residuo.events.XQ`` (a sweep is
    never resolved): unknown (``null``, every letter counted unresolved) when the
    books cannot be read or expect more dead letters than the queue holds (some
    were removed behind residuo's back, and which are left cannot be told).
    """
    columns = ("queue", "messages", "resolved", "unresolved")
    if runtime.settings.embedded_broker:
        return Section("dead_letters", "Dead letters", columns, note=_EMBEDDED_NOTE)
    names = [xq_name(each) for each in _work_queues(runtime)]
    try:
        depths = queue_depths(runtime.settings.broker_url, names)
    except _BROKER_ERRORS as error:
        problem = f"RabbitMQ unreachable: {error!r}"
        return Section("dead_letters", "Dead letters", columns, problem=problem)
    counts, unknown = _held_counts(runtime)
    notes = [] if unknown is None else [f"letters a reader holds are not counted: {unknown}"]
    try:
        on_record: DeadLettersOnRecord | None = runtime.ledger.inbound_dead_letters_on_record()
    except SQLAlchemyError as error:
        on_record = None
        notes.append(f"resolved unknown: the books cannot be read ({_first_line(error)})")
    rows = []
    for depth in depths:
        messages = _messages(depth, counts.get(depth.queue))
        resolved: int | None = 0
        if messages is None:
            resolved = None
        elif depth.queue == _INBOUND_DEAD_LETTERS:
            resolved = None if on_record is None else on_record.resolved
            if on_record is not None and on_record.outstanding > messages:
                resolved = None
                notes.append(
                    f"resolved unknown: the books expect {on_record.outstanding} dead letters "
                    f"in {depth.queue}, it holds {messages}: some were removed outside "
                    "residuo (a purge?), every one is counted unresolved"
                )
        rows.append(
            {
                "queue": depth.queue,
                "messages": messages,
                "resolved": resolved,
                "unresolved": None if messages is None else messages - (resolved or 0),
            }
        )
    return Section("dead_letters", "Dead letters", columns, rows, note="; ".join(notes) or None)


def _held_counts(runtime: Runtime) -> tuple[Mapping[str, QueueCounts], str | None]:
    """The management API's counts of every queue, or none and why."""
    api = ManagementApi.for_broker(
        runtime.settings.broker_url, runtime.settings.broker_management_url
    )
    try:
        return api.queue_counts(), None
    except (OSError, ValueError) as error:
        return {}, (
            f"the management API at {api.url} did not answer ({error}); "
            "set RESIDUO_BROKER_MANAGEMENT_URL"
        )


def _messages(depth: QueueDepth, counted: QueueCounts | None) -> int | None:
    """A dead-letter queue's messages, held ones included when the API counted them."""
    if depth.ready is None or counted is None:
        return depth.ready
    return max(depth.ready, counted.ready + counted.unacknowledged)


def outbox_section(runtime: Runtime) -> Section:
    """Notifications committed but not yet confirmed by the broker, and the oldest's age."""
    title = "Outbox (waiting for the relay)"
    outbox = schema.outbox.c
    query = select(func.count(), func.min(outbox.created_at)).where(outbox.published_at.is_(None))
    try:
        with runtime.engine.connect() as connection:
            count, oldest = connection.execute(query).one()
    except SQLAlchemyError as error:
        return Section("outbox", title, _OUTBOX_COLUMNS, problem=_database_problem(error))
    zone = runtime.settings.policy.zone
    row = {
        "unpublished": count,
        "oldest_created_at": None if oldest is None else oldest.astimezone(zone),
        "oldest_age_seconds": _age_seconds(runtime, oldest),
    }
    return Section("outbox", title, _OUTBOX_COLUMNS, [row])


def events_section(runtime: Runtime) -> Section:
    """Events parked until their order's payment arrives, how long the oldest has
    waited (a payment that never comes leaves it parked), and rejected events on record."""
    inbox = schema.inbox.c
    parked = select(func.count(), func.min(inbox.received_at)).where(inbox.status == "parked")
    rejected = select(func.count()).select_from(schema.rejected_events)
    try:
        with runtime.engine.connect() as connection:
            count, oldest = connection.execute(parked).one()
            row = {
                "parked": count,
                "oldest_parked_age_seconds": _age_seconds(runtime, oldest),
                "rejected": connection.execute(rejected).scalar_one(),
            }
    except SQLAlchemyError as error:
        problem = _database_problem(error)
        return Section("events", "Inbound events", _EVENTS_COLUMNS, problem=problem)
    return Section("events", "Inbound events", _EVENTS_COLUMNS, [row])


def sweeps_section(runtime: Runtime) -> Section:
    """The newest scheduled sweep runs: which business day, how far, what they settled."""
    title = "Last sweep runs"
    columns = ("kind", "business_date", "status", "chunks", "sent", "completed_at", "outcomes")
    zone = runtime.settings.policy.zone
    try:
        runs = last_runs(runtime.engine)
    except SQLAlchemyError as error:
        return Section("sweeps", title, columns, problem=_database_problem(error))
    rows = [
        {
            "kind": run.kind,
            "business_date": run.business_date.isoformat(),
            "status": run.status,
            "chunks": f"{run.chunks_done}/{run.chunks_total}",
            "sent": run.send_count,
            "completed_at": run.completed_at.astimezone(zone) if run.completed_at else None,
            "outcomes": ", ".join(f"{name} {count}" for name, count in sorted(run.counts.items()))
            or None,
        }
        for run in runs
    ]
    return Section("sweeps", title, columns, rows)


SECTIONS: list[SectionProvider] = [
    queues_section,
    dead_letters_section,
    outbox_section,
    events_section,
    sweeps_section,
]
"""The sections of ``residuo status``, in order."""


def collect(runtime: Runtime, providers: Sequence[SectionProvider] = SECTIONS) -> list[Section]:
    """Every provider's section."""
    return [provide(runtime) for provide in providers]


def status_document(sections: Sequence[Section]) -> dict[str, Any]:
    """``residuo status --json``: each section's rows under its key, and the problems."""
    document: dict[str, Any] = {
        each.key: [_jsonable(row) for row in each.rows] for each in sections
    }
    document["notes"] = {each.key: each.note for each in sections if each.note}
    document["problems"] = {each.key: each.problem for each in sections if each.problem}
    return document


def status_tables(sections: Sequence[Section]) -> list[RenderableType]:
    """``residuo status``: one table per section, captioned with its problem or note;
    a section with nothing to show is one line."""
    shown: list[RenderableType] = []
    for section in sections:
        caption = section.problem or section.note
        if not section.rows:
            shown.append(Text(f"{section.title}: {caption or 'nothing'}"))
            continue
        table = Table(title=section.title, title_justify="left", caption=caption)
        for column in section.columns:
            table.add_column(column.replace("_", " "))
        for row in section.rows:
            table.add_row(*(_cell(row.get(column)) for column in section.columns))
        shown.append(table)
    return shown


def _database_problem(error: SQLAlchemyError) -> str:
    return f"database unreachable: {_first_line(error)}"


def _first_line(error: SQLAlchemyError) -> str:
    # The driver's own message (``orig``) says what failed without SQLAlchemy's
    # statement and background link.
    return first_line(getattr(error, "orig", None) or error)


def _age_seconds(runtime: Runtime, since: datetime | None) -> int | None:
    return None if since is None else int((runtime.clock() - since).total_seconds())


def _work_queues(runtime: Runtime) -> list[str]:
    return sorted(runtime.broker.get_declared_queues())


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _json_value(value) for key, value in row.items()}


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _cell(value: Any) -> Text:
    return shown("-" if value is None else _json_value(value))
