"""The worker's Prometheus metrics: messages per actor and outcome, events per type.

Message counters keep the names and labels of Dramatiq's own ``Prometheus``
middleware (``dramatiq_messages_total{queue_name, actor_name}`` and its kin), so
dashboards made for Dramatiq read them. That middleware itself is not used: it
starts its exposition server from hooks only the ``dramatiq`` command runs (process
boot, forks) and keeps its samples in a shared directory in multiprocess mode,
whereas a residuo worker is one process serving its own registry
(``residuo worker --metrics-port``). Its duration histogram, in milliseconds and
without an outcome, is replaced by ``residuo_message_duration_seconds{actor_name,
outcome}``, in the base unit Prometheus recommends.

============================================  =========  ===========================
metric                                        type       labels
============================================  =========  ===========================
``dramatiq_messages_total``                   counter    ``queue_name``, ``actor_name``
``dramatiq_message_errors_total``             counter    same: the actor raised
``dramatiq_message_retries_total``            counter    same: sent again later
``dramatiq_message_rejects_total``            counter    same: failed for good
``dramatiq_messages_inprogress``              gauge      same
``residuo_message_duration_seconds``          histogram  ``actor_name``, ``outcome``
``residuo_events_total``                      counter    ``event_type``, ``outcome``
``residuo_events_refused_total``              counter    ``event_type``, ``reason``
============================================  =========  ===========================

A message's ``outcome`` is ``processed``, ``retried``, ``dead_lettered`` (failed for
good, an invalid event included) or ``skipped``. An event's is what
``Ledger.record`` said: ``applied``, ``parked``, ``refused``, ``duplicate`` or
``conflict``, and
``rejected`` for an invalid one (whose ``event_type`` is ``other`` unless it is one
residuo knows); a parked event applied later counts then, under its own type.
"""

import time
from typing import Any, Final

from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ledger.service import EventRecorded, Recording
from messages import INBOUND_TYPES

__all__ = ["MessageMetrics", "WorkerMetrics"]

_MESSAGE_LABELS: Final = ("queue_name", "actor_name")

# From a few milliseconds (one event) to an hour (a sweep over years of books).
_DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)


class WorkerMetrics:
    """The worker's counters and histograms, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "dramatiq_messages",
            "The total number of messages processed.",
            _MESSAGE_LABELS,
            registry=registry,
        )
        self.errors = Counter(
            "dramatiq_message_errors",
            "The total number of errored messages.",
            _MESSAGE_LABELS,
            registry=registry,
        )
        self.retries = Counter(
            "dramatiq_message_retries",
            "The total number of retried messages.",
            _MESSAGE_LABELS,
            registry=registry,
        )
        self.rejects = Counter(
            "dramatiq_message_rejects",
            "The total number of dead-lettered messages.",
            _MESSAGE_LABELS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "dramatiq_messages_inprogress",
            "The number of messages in progress.",
            _MESSAGE_LABELS,
            registry=registry,
        )
        self.duration = Histogram(
            "residuo_message_duration_seconds",
            "Time an actor spent on a message, middleware included, by outcome.",
            ("actor_name", "outcome"),
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.events = Counter(
            "residuo_events",
            "Inbound events by what became of them.",
            ("event_type", "outcome"),
            registry=registry,
        )
        self.refusals = Counter(
            "residuo_events_refused",
            "Inbound events refused, by reason (request.rejected or event.rejected).",
            ("event_type", "reason"),
            registry=registry,
        )

    def count_recording(self, recording: Recording) -> None:
        """Count what ``Ledger.record`` did: the event, and the parked events it applied."""
        for recorded in (recording.event, *recording.unparked):
            self._count(recorded)

    def _count(self, recorded: EventRecorded) -> None:
        self.events.labels(recorded.event_type, recorded.outcome.value).inc()
        if recorded.reason is not None:
            self.refusals.labels(recorded.event_type, recorded.reason).inc()


class MessageMetrics(Middleware):
    """Count and time every message, by actor and outcome.

    Install it outermost (``create_broker(outermost=…)``): its ``after`` hooks then run
    last, once ``Retries`` has decided whether a failed message is retried or failed
    for good, and the time measured includes every other middleware.

    Parameters:
      metrics: where the samples go.
    """

    def __init__(self, *, metrics: WorkerMetrics) -> None:
        self.metrics = metrics
        self._started: dict[str, float] = {}

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self._started[message.message_id] = time.perf_counter()
        self.metrics.in_progress.labels(message.queue_name, message.actor_name).inc()

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None:
            outcome = "processed"
        elif message.failed:
            outcome = "dead_lettered"
        else:
            outcome = "retried"
        self._finish(message, outcome, errored=exception is not None)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        # RejectInvalidEvents leaves why it skipped an invalid event in the options.
        rejection = message.options.get("rejection")
        if rejection is not None:
            # An invalid event's type is whatever upstream wrote: only a known one
            # becomes a label value, so a stream of garbage cannot grow the series.
            known = rejection.get("event_type") in INBOUND_TYPES
            event_type = rejection["event_type"] if known else "other"
            self.metrics.events.labels(event_type, "rejected").inc()
            self.metrics.refusals.labels(event_type, rejection["reason"]).inc()
        self._finish(message, "dead_lettered" if message.failed else "skipped", errored=False)

    def _finish(self, message: MessageProxy, outcome: str, *, errored: bool) -> None:
        started = self._started.pop(message.message_id, None)
        labels = (message.queue_name, message.actor_name)
        if started is not None:
            self.metrics.in_progress.labels(*labels).dec()
            elapsed = time.perf_counter() - started
            self.metrics.duration.labels(message.actor_name, outcome).observe(elapsed)
        self.metrics.messages.labels(*labels).inc()
        if errored:
            self.metrics.errors.labels(*labels).inc()
        if outcome == "retried":
            self.metrics.retries.labels(*labels).inc()
        if outcome == "dead_lettered":
            self.metrics.rejects.labels(*labels).inc()
