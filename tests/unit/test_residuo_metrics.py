"""``residuo metrics``: the status sections as Prometheus gauges, read at each scrape."""

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest, make_wsgi_app
from prometheus_client.parser import text_string_to_metric_families

from residuo.bootstrap import Runtime
from residuo.metrics import HEALTH_QUERY, StatusCollector, status_registry
from residuo.status import SECTIONS, Section, SectionProvider

Samples = dict[tuple[str, tuple[str, ...]], float]


def scrape(registry: CollectorRegistry) -> Samples:
    """Every sample Prometheus would read, by name and label values."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def returning(section: Section) -> SectionProvider:
    """A provider that returns ``section`` as it is, whatever the runtime."""
    return lambda _: section


def scrape_sections(runtime: Runtime, *sections: Section) -> Samples:
    """Scrape a collector whose providers return ``sections`` as they are."""
    providers = [returning(section) for section in sections]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(runtime, providers))
    return scrape(registry)


def test_the_embedded_setup_exports_its_books_and_no_queue(runtime: Runtime) -> None:
    """Every section is up; outbox and events have their gauges; no broker, no queue."""
    samples = scrape(status_registry(runtime))

    assert {labels for name, labels in samples if name == "residuo_status_up"} == {
        (provide(runtime).key,) for provide in SECTIONS
    }
    assert samples[("residuo_status_up", ("queues",))] == 1
    assert samples[("residuo_outbox_unpublished", ())] == 0
    assert samples[("residuo_events_parked", ())] == 0
    assert samples[("residuo_events_parked_oldest_age_seconds", ())] == 0
    assert not [name for name, _ in samples if name.startswith(("residuo_queue_", "residuo_dead"))]


def test_each_figure_of_status_becomes_a_gauge(runtime: Runtime) -> None:
    """Queue depths by queue, dead letters, backlog and parked ages, as status read them."""
    samples = scrape_sections(
        runtime,
        Section(
            "queues",
            "Queues",
            ("queue", "ready", "consumers"),
            [
                {"queue": "residuo.events", "ready": 7, "consumers": 2},
                {"queue": "residuo.notifications", "ready": None, "consumers": None},
            ],
        ),
        Section(
            "dead_letters",
            "Dead letters",
            ("queue", "messages", "resolved", "unresolved"),
            [{"queue": "residuo.events.XQ", "messages": 3, "resolved": 1, "unresolved": 2}],
        ),
        Section(
            "outbox",
            "Outbox",
            ("unpublished", "oldest_created_at", "oldest_age_seconds"),
            [{"unpublished": 12, "oldest_created_at": None, "oldest_age_seconds": 95}],
        ),
        Section(
            "events",
            "Inbound events",
            ("parked", "oldest_parked_age_seconds", "rejected"),
            [{"parked": 2, "oldest_parked_age_seconds": 93600, "rejected": 4}],
        ),
    )

    assert samples[("residuo_queue_ready_messages", ("residuo.events",))] == 7
    assert samples[("residuo_queue_consumers", ("residuo.events",))] == 2
    assert ("residuo_queue_ready_messages", ("residuo.notifications",)) not in samples
    assert samples[("residuo_dead_letters", ("residuo.events.XQ",))] == 2
    assert samples[("residuo_dead_letters_resolved", ("residuo.events.XQ",))] == 1
    assert samples[("residuo_outbox_unpublished", ())] == 12
    assert samples[("residuo_outbox_oldest_age_seconds", ())] == 95
    assert samples[("residuo_events_parked", ())] == 2
    assert samples[("residuo_events_parked_oldest_age_seconds", ())] == 93600
    assert samples[("residuo_events_rejected_total", ())] == 4


def test_a_section_that_cannot_be_read_is_down_and_has_no_gauges(runtime: Runtime) -> None:
    """RabbitMQ unreachable: its sections say 0, and no stale or zero depth is made up."""
    samples = scrape_sections(
        runtime,
        Section("queues", "Queues", ("queue", "ready", "consumers"), problem="unreachable"),
        Section(
            "events",
            "Inbound events",
            ("parked", "oldest_parked_age_seconds", "rejected"),
            [{"parked": 0, "oldest_parked_age_seconds": None, "rejected": 0}],
        ),
    )

    assert samples[("residuo_status_up", ("queues",))] == 0
    assert samples[("residuo_status_up", ("events",))] == 1
    assert not [name for name, _ in samples if name.startswith("residuo_queue_")]
    assert samples[("residuo_events_parked", ())] == 0


def test_sweeps_export_the_newest_completion_and_the_unfinished_runs(runtime: Runtime) -> None:
    """Per kind: when its newest completed run ended (alert when it is over a day old)
    and how many recent runs are claimed but not completed."""
    yesterday = datetime(2026, 3, 1, 3, 31, tzinfo=UTC)
    before = datetime(2026, 2, 28, 3, 32, tzinfo=UTC)
    samples = scrape_sections(
        runtime,
        Section(
            "sweeps",
            "Last sweep runs",
            ("kind", "completed_at"),
            [  # newest business date first, as status lists them
                {"kind": "expiry", "completed_at": None},
                {"kind": "holds", "completed_at": yesterday},
                {"kind": "expiry", "completed_at": yesterday},
                {"kind": "expiry", "completed_at": before},
            ],
        ),
    )

    completed = "residuo_sweep_last_completed_timestamp_seconds"
    assert samples[(completed, ("expiry",))] == yesterday.timestamp()
    assert samples[(completed, ("holds",))] == yesterday.timestamp()
    assert samples[("residuo_sweep_runs_unfinished", ("expiry",))] == 1
    assert samples[("residuo_sweep_runs_unfinished", ("holds",))] == 0


def test_resolution_the_books_cannot_judge_has_no_resolved_sample(runtime: Runtime) -> None:
    """A dead-letter queue whose resolution is unknown (``resolved`` None) exports every
    letter as unresolved and no ``residuo_dead_letters_resolved``, not a made-up 0."""
    samples = scrape_sections(
        runtime,
        Section(
            "dead_letters",
            "Dead letters",
            ("queue", "messages", "resolved", "unresolved"),
            [{"queue": "residuo.events.XQ", "messages": 3, "resolved": None, "unresolved": 3}],
        ),
    )

    assert samples[("residuo_dead_letters", ("residuo.events.XQ",))] == 3
    assert ("residuo_dead_letters_resolved", ("residuo.events.XQ",)) not in samples


def test_the_healthcheck_scrape_reads_no_section(runtime: Runtime) -> None:
    """``/metrics?name[]=residuo_build_info`` (the compose healthcheck) answers with the
    build info and runs no status provider: no RabbitMQ or database read every 15 s
    beside Prometheus's own scrape; a scrape restricted to a status family reads it."""
    calls: list[str] = []

    def counted(runtime: Runtime) -> Section:
        calls.append("read")
        row = {"unpublished": 1, "oldest_created_at": None, "oldest_age_seconds": None}
        return Section("outbox", "Outbox", tuple(row), [row])

    registry = runtime.registry
    registry.register(StatusCollector(runtime, [counted]))
    answered: list[str] = []

    def get(query: str) -> bytes:
        environ = {"PATH_INFO": "/metrics", "QUERY_STRING": query, "REQUEST_METHOD": "GET"}
        return b"".join(make_wsgi_app(registry)(environ, lambda status, _: answered.append(status)))

    health = get(HEALTH_QUERY)
    read_after_health = list(calls)
    outbox = get("name[]=residuo_outbox_unpublished")

    assert answered == ["200 OK", "200 OK"]
    assert b"residuo_build_info" in health
    assert read_after_health == []
    assert b"residuo_outbox_unpublished 1.0" in outbox
    assert calls == ["read"]
