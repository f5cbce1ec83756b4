"""``residuo metrics``: what ``residuo status`` shows, as Prometheus gauges (and one
counter, ``residuo_events_rejected_total``).

The sections are read again at every scrape, through the same providers as the
command, so an alert and the command ops run at 3 a.m. never disagree. Each section
has its gauges below; ``residuo_status_up{section}`` is 0 when a section could not be
read (its other gauges are then missing, not zero). A section with only a note (the
embedded broker keeps no queues) has no samples.

Every family is declared once, in ``_FAMILIES``, and the collector describes them:
a scrape restricted to some names (``/metrics?name[]=residuo_dead_letters``) reads
the sections for them, and one restricted to others (``name[]=residuo_build_info``,
the compose healthcheck) reads no section at all: no RabbitMQ, no database.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from residuo.bootstrap import Runtime
from residuo.status import SECTIONS, Section, SectionProvider, collect

__all__ = ["HEALTH_QUERY", "StatusCollector", "status_registry"]

HEALTH_QUERY: Final = "name[]=residuo_build_info"
"""A query of ``/metrics`` that answers without reading any section (see the module)."""

_Family = GaugeMetricFamily | CounterMetricFamily

_FAMILIES: Final[dict[str, tuple[type[_Family], str, tuple[str, ...]]]] = {
    "residuo_status_up": (
        GaugeMetricFamily,
        "1 if the status section could be read, 0 if not (residuo status says why).",
        ("section",),
    ),
    "residuo_queue_ready_messages": (GaugeMetricFamily, "Messages ready in a queue.", ("queue",)),
    "residuo_queue_consumers": (GaugeMetricFamily, "Consumers attached to a queue.", ("queue",)),
    "residuo_dead_letters": (
        GaugeMetricFamily,
        "Unresolved messages in a dead-letter queue, waiting for a decision "
        "(residuo dead-letters list).",
        ("queue",),
    ),
    "residuo_dead_letters_resolved": (
        GaugeMetricFamily,
        "Messages in a dead-letter queue whose event is in the books since (a corrected "
        "event was applied); residuo dead-letters archive --resolved clears them.",
        ("queue",),
    ),
    "residuo_outbox_unpublished": (
        GaugeMetricFamily,
        "Notifications committed but not yet confirmed by RabbitMQ.",
        (),
    ),
    "residuo_outbox_oldest_age_seconds": (
        GaugeMetricFamily,
        "How long the oldest unpublished notification has waited (0: none waits).",
        (),
    ),
    "residuo_events_parked": (
        GaugeMetricFamily,
        "Activation events waiting for their order's payment.",
        (),
    ),
    "residuo_events_parked_oldest_age_seconds": (
        GaugeMetricFamily,
        "How long the oldest parked event has waited (0: none is parked).",
        (),
    ),
    # Rejected events stay on record (they are never deleted), so their number only
    # grows: a counter, whose increase() is the rate of new ones.
    "residuo_events_rejected": (
        CounterMetricFamily,
        "Invalid events on record, each reported as event.rejected.",
        (),
    ),
    "residuo_sweep_last_completed_timestamp_seconds": (
        GaugeMetricFamily,
        "When the newest completed run of a sweep kind finished (Unix time).",
        ("kind",),
    ),
    "residuo_sweep_runs_unfinished": (
        GaugeMetricFamily,
        "Recent runs of a sweep kind claimed but not completed.",
        ("kind",),
    ),
}
"""Every family the collector exports: name → (kind, help, label names)."""


def _family(name: str) -> _Family:
    """An empty family ``name`` as ``_FAMILIES`` declares it, for samples to be added."""
    kind, documentation, labels = _FAMILIES[name]
    return kind(name, documentation, labels=labels)


def _queues(section: Section) -> Iterator[Metric]:
    ready, consumers = _family("residuo_queue_ready_messages"), _family("residuo_queue_consumers")
    for row in _existing(section.rows, "ready"):
        ready.add_metric([row["queue"]], row["ready"])
        consumers.add_metric([row["queue"]], row["consumers"])
    yield from (ready, consumers)


def _dead_letters(section: Section) -> Iterator[Metric]:
    letters, resolved = _family("residuo_dead_letters"), _family("residuo_dead_letters_resolved")
    for row in _existing(section.rows, "messages"):
        letters.add_metric([row["queue"]], row["unresolved"])
    # Resolution the books cannot judge (``residuo.status``) has no sample; every
    # letter of that queue is then counted unresolved above.
    for row in _existing(section.rows, "resolved"):
        resolved.add_metric([row["queue"]], row["resolved"])
    yield from (letters, resolved)


def _existing(rows: Sequence[dict[str, Any]], count: str) -> Iterator[dict[str, Any]]:
    # A queue not declared yet (the notifications queue before the first relay) has no
    # count; it gets no sample rather than a made-up zero.
    return (row for row in rows if row[count] is not None)


def _single(name: str, value: float) -> Metric:
    family = _family(name)
    family.add_metric([], value)
    return family


def _outbox(section: Section) -> Iterator[Metric]:
    (row,) = section.rows
    yield _single("residuo_outbox_unpublished", row["unpublished"])
    yield _single("residuo_outbox_oldest_age_seconds", row["oldest_age_seconds"] or 0)


def _events(section: Section) -> Iterator[Metric]:
    (row,) = section.rows
    yield _single("residuo_events_parked", row["parked"])
    yield _single("residuo_events_parked_oldest_age_seconds", row["oldest_parked_age_seconds"] or 0)
    yield _single("residuo_events_rejected", row["rejected"])


def _sweeps(section: Section) -> Iterator[Metric]:
    completed = _family("residuo_sweep_last_completed_timestamp_seconds")
    unfinished = _family("residuo_sweep_runs_unfinished")
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

    def describe(self) -> Iterator[Metric]:
        """Every family ``collect`` may export, without reading a section."""
        return (_family(name) for name in _FAMILIES)

    def collect(self) -> Iterator[Metric]:
        sections = collect(self._runtime, self._providers)
        up = _family("residuo_status_up")
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
