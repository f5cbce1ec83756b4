"""``residuo metrics``: what ``residuo status`` shows, as Prometheus gauges (and one
counter, ``residuo_events_rejected_total``).

The sections are read again at every scrape, through the same providers as the
command, so an alert and the command ops run at 3 a.m. never disagree. Each section
has its gauges below; ``residuo_status_up{section}`` is 0 when a section could not be
read (its other gauges are then missing, not zero). A section with only a note (the
embedded broker keeps no queues) has no samples.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from residuo.bootstrap import Runtime
from residuo.status import SECTIONS, Section, SectionProvider, collect

__all__ = ["StatusCollector", "status_registry"]

_PREFIX: Final = "residuo"


def _queues(section: Section) -> Iterator[GaugeMetricFamily]:
    ready = GaugeMetricFamily(
        f"{_PREFIX}_queue_ready_messages", "Messages ready in a queue.", labels=["queue"]
    )
    consumers = GaugeMetricFamily(
        f"{_PREFIX}_queue_consumers", "Consumers attached to a queue.", labels=["queue"]
    )
    for row in _existing(section.rows, "ready"):
        ready.add_metric([row["queue"]], row["ready"])
        consumers.add_metric([row["queue"]], row["consumers"])
    yield from (ready, consumers)


def _dead_letters(section: Section) -> Iterator[GaugeMetricFamily]:
    letters = GaugeMetricFamily(
        f"{_PREFIX}_dead_letters",
        "Unresolved messages in a dead-letter queue, waiting for a decision "
        "(residuo dead-letters list).",
        labels=["queue"],
    )
    resolved = GaugeMetricFamily(
        f"{_PREFIX}_dead_letters_resolved",
        "Messages in a dead-letter queue whose event is in the books since (a corrected "
        "event was applied); residuo dead-letters archive --resolved clears them.",
        labels=["queue"],
    )
    for row in _existing(section.rows, "messages"):
        letters.add_metric([row["queue"]], row["unresolved"])
        resolved.add_metric([row["queue"]], row["resolved"])
    yield from (letters, resolved)


def _existing(rows: Sequence[dict[str, Any]], count: str) -> Iterator[dict[str, Any]]:
    # A queue not declared yet (the notifications queue before the first relay) has no
    # count; it gets no sample rather than a made-up zero.
    return (row for row in rows if row[count] is not None)


def _outbox(section: Section) -> Iterator[GaugeMetricFamily]:
    (row,) = section.rows
    yield GaugeMetricFamily(
        f"{_PREFIX}_outbox_unpublished",
        "Notifications committed but not yet confirmed by RabbitMQ.",
        value=row["unpublished"],
    )
    yield GaugeMetricFamily(
        f"{_PREFIX}_outbox_oldest_age_seconds",
        "How long the oldest unpublished notification has waited (0: none waits).",
        value=row["oldest_age_seconds"] or 0,
    )


def _events(section: Section) -> Iterator[Metric]:
    (row,) = section.rows
    yield GaugeMetricFamily(
        f"{_PREFIX}_events_parked",
        "Activation events waiting for their order's payment.",
        value=row["parked"],
    )
    yield GaugeMetricFamily(
        f"{_PREFIX}_events_parked_oldest_age_seconds",
        "How long the oldest parked event has waited (0: none is parked).",
        value=row["oldest_parked_age_seconds"] or 0,
    )
    # Rejected events stay on record (they are never deleted), so their number only
    # grows: a counter, whose increase() is the rate of new ones.
    yield CounterMetricFamily(
        f"{_PREFIX}_events_rejected",
        "Invalid events on record, each reported as event.rejected.",
        value=row["rejected"],
    )


def _sweeps(section: Section) -> Iterator[GaugeMetricFamily]:
    completed = GaugeMetricFamily(
        f"{_PREFIX}_sweep_last_completed_timestamp_seconds",
        "When the newest completed run of a sweep kind finished (Unix time).",
        labels=["kind"],
    )
    unfinished = GaugeMetricFamily(
        f"{_PREFIX}_sweep_runs_unfinished",
        "Recent runs of a sweep kind claimed but not completed.",
        labels=["kind"],
    )
    newest: dict[str, float] = {}
    pending: dict[str, int] = {}
    for row in section.rows:  # newest business date first
        kind = row["kind"]
        pending.setdefault(kind, 0)
        if row["completed_at"] is None:
            pending[kind] += 1
        else:
            newest.setdefault(kind, row["completed_at"].timestamp())
    for kind, when in sorted(newest.items()):
        completed.add_metric([kind], when)
    for kind, count in sorted(pending.items()):
        unfinished.add_metric([kind], count)
    yield from (completed, unfinished)


_GAUGES: Final[dict[str, Callable[[Section], Iterator[Metric]]]] = {
    "queues": _queues,
    "dead_letters": _dead_letters,
    "outbox": _outbox,
    "events": _events,
    "sweeps": _sweeps,
}
"""The gauges of each section of ``SECTIONS``, by its key."""


class StatusCollector(Collector):
    """The status sections of ``runtime``, read when Prometheus scrapes."""

    def __init__(self, runtime: Runtime, providers: Sequence[SectionProvider] = SECTIONS):
        self._runtime = runtime
        self._providers = providers

    def collect(self) -> Iterator[Metric]:
        sections = collect(self._runtime, self._providers)
        up = GaugeMetricFamily(
            f"{_PREFIX}_status_up",
            "1 if the status section could be read, 0 if not (residuo status says why).",
            labels=["section"],
        )
        for section in sections:
            up.add_metric([section.key], 0 if section.problem else 1)
        yield up
        for section in sections:
            if not section.problem and section.rows:
                yield from _GAUGES[section.key](section)


def status_registry(runtime: Runtime) -> CollectorRegistry:
    """The runtime's registry (process collectors, ``residuo_build_info``), with the
    status gauges added."""
    runtime.registry.register(StatusCollector(runtime))
    return runtime.registry
