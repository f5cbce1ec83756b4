"""The one module that wires residuo: settings → logging → database → ledger → broker → actors.

The CLI, the worker and the scheduler all start from ``bootstrap``. Nothing is made
at import time: no engine, no broker, no logging handler, no metrics registry (each
runtime has its own, ``residuo.telemetry``). The broker is installed
as Dramatiq's global broker here, explicitly, so Dramatiq never makes one of its own.
"""

import logging
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Final, Self

import dramatiq
import structlog
from dramatiq import Broker
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from structlog.tracebacks import ExceptionDictTransformer

from ledger.service import Ledger, Recording
from ledger.store.database import create_database_engine
from ledger.store.migrate import current_revision, head_revision, upgrade
from residuo.log_privacy import LogScrubber, MessagesWithoutBodies, escape_control_characters
from residuo.settings import Settings
from residuo.telemetry import Readiness, process_registry
from workers.actors import Actors, declare_actors
from workers.broker import create_broker
from workers.delivery_order import DeliveryOrder
from workers.event_log import LogEventLifecycle, log_recording
from workers.ingress import open_raw_ingress
from workers.instruments import MessageMetrics, WorkerMetrics
from workers.middleware import BindLogContext, RejectInvalidEvents
from workers.rabbitmq.broker import ResiduoRabbitmqBroker

__all__ = [
    "Clock",
    "Runtime",
    "SchemaNotReadyError",
    "bootstrap",
    "configure_logging",
    "ensure_schema",
    "wall_clock",
]

Clock = Callable[[], datetime]

_HANDLER_NAME: Final = "residuo"


def wall_clock() -> datetime:
    """Now, in UTC: when residuo writes something (audit only; rules read business time)."""
    return datetime.now(UTC)


class SchemaNotReadyError(RuntimeError):
    """The database's schema is not at the code's head revision: run ``residuo migrate``."""


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything a process needs, wired once; ``close`` (or ``with``) releases it."""

    settings: Settings
    engine: Engine
    ledger: Ledger
    broker: Broker
    actors: Actors
    clock: Clock
    registry: CollectorRegistry
    """This process's metrics (``residuo.telemetry``), served by ``--metrics-port``."""
    readiness: Readiness
    """``residuo_process_ready`` on ``registry``: the loops the process runs add checks."""

    def close(self) -> None:
        """Close the broker's connections and the database pool."""
        self.broker.close()
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def bootstrap(settings: Settings | None = None, *, clock: Clock = wall_clock) -> Runtime:
    """Wire a runtime from ``settings`` (the environment when None).

    ``clock`` tells the ledger when it records things; the demo passes a simulated
    one. The schema is not touched: see ``ensure_schema``.
    """
    settings = settings if settings is not None else Settings()
    configure_logging(settings)
    # SQL parameters (customer ids, amounts) stay out of error messages, hence logs.
    engine = create_database_engine(settings.database_url, hide_parameters=True)
    ledger = Ledger(
        engine, settings.policy, clock=clock, sweep_chunk_size=settings.sweep_chunk_size
    )
    registry = process_registry()
    metrics = WorkerMetrics(registry)
    broker = create_broker(
        settings.broker_url,
        middleware=[
            BindLogContext(),
            RejectInvalidEvents(ledger=ledger, bounds=settings.inbound_bounds),
        ],
        outermost=[MessageMetrics(metrics=metrics), LogEventLifecycle()],
        retries=settings.retry_policy,
        publish_timeout_ms=settings.broker_publish_timeout_ms,
        queue_type=settings.broker_queue_type,
    )
    dramatiq.set_broker(broker)

    def on_recorded(recording: Recording) -> None:
        log_recording(recording)
        metrics.count_recording(recording)

    # On RabbitMQ a sweep message may come from anyone who can publish to its queue;
    # in memory it is a replay's, whose sweep lines set their own time.
    sweep_clock = clock if isinstance(broker, ResiduoRabbitmqBroker) else None
    # On SQLite a write transaction holds the database from its start: a thread
    # waiting there for its turn would hold up the very events it waits for.
    delivery_order = DeliveryOrder() if engine.dialect.name == "postgresql" else None
    actors = declare_actors(
        broker,
        ledger,
        on_recorded=on_recorded,
        clock=sweep_clock,
        delivery_order=delivery_order,
    )
    if isinstance(broker, ResiduoRabbitmqBroker):
        open_raw_ingress(broker, actors, max_body_bytes=settings.max_body_bytes)
    return Runtime(settings, engine, ledger, broker, actors, clock, registry, Readiness(registry))


def _pseudonym_key(settings: Settings) -> bytes:
    # Without a configured key, one per process: lines still correlate within it.
    configured = settings.log_pseudonym_key
    if configured is not None:
        return configured.get_secret_value().encode()
    return secrets.token_bytes(32)


def ensure_schema(engine: Engine) -> None:
    """Make sure the schema is at head before use.

    SQLite, the embedded default, is upgraded on the spot: there is nobody else to
    run a migration. Any other database is only checked: its migrations are an
    operator's deliberate step (``residuo migrate``), never a side effect.
    """
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotReadyError(
            f"database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `residuo migrate`"
        )


def configure_logging(settings: Settings) -> None:
    """structlog and the standard library (Dramatiq, Alembic) through one stderr handler.

    ``console`` renders for people, ``json`` one object a line for machines. Either
    way a line never holds a secret, a customer id in clear, an event body or a
    traceback's local variables (``residuo.log_privacy``). Calling it again replaces
    the handler it installed, so a test never doubles log lines.
    """
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    scrubber = LogScrubber(secrets=settings.secrets, pseudonym_key=_pseudonym_key(settings))
    # Tracebacks without their frames' locals: psycopg's hold the connection password.
    renderer: list[structlog.typing.Processor] = (
        [
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            scrubber,
            structlog.processors.JSONRenderer(),
        ]
        if settings.log_format == "json"
        else [
            structlog.processors.format_exc_info,
            scrubber,
            escape_control_characters,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ]
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(MessagesWithoutBodies())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    for previous in [each for each in root.handlers if each.get_name() == _HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # pika logs every failed connection attempt as an error, with a traceback; residuo
    # reports the same failure once, where it is handled (a retry, a one-line error).
    logging.getLogger("pika").setLevel(
        logging.DEBUG if settings.log_level == "DEBUG" else logging.CRITICAL
    )
