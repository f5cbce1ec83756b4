"""Attack on issue 10: `residuo metrics` when the database goes away under it, on a
real PostgreSQL.

Fails on the code it was written against; the docstring says what was observed and
what is expected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, make_url, text

from ledger.store.migrate import upgrade
from residuo.bootstrap import bootstrap
from residuo.metrics import status_registry
from residuo.settings import Settings

pytestmark = pytest.mark.integration


def status_up(exposition: bytes) -> dict[str, float]:
    return {
        sample.labels["section"]: sample.value
        for family in text_string_to_metric_families(exposition.decode())
        if family.name == "residuo_status_up"
        for sample in family.samples
    }


def database_refuses_connections(postgres_url: str, refuse: bool) -> None:
    """`ALTER DATABASE … ALLOW_CONNECTIONS false` and end its sessions: to every client
    it looks like a database that went away."""
    url = make_url(postgres_url)
    maintenance = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = url.database
    with maintenance.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {not refuse!s}'))
        if refuse:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
    maintenance.dispose()


@pytest.fixture
def database_outage(postgres_url: str) -> Iterator[None]:
    yield
    database_refuses_connections(postgres_url, refuse=False)


def test_attack10_the_status_exporter_reports_a_database_outage_by_section(
    postgres_url: str, database_outage: None
) -> None:
    """residuo/status.py: "A provider that cannot read what it reports returns its
    section with a `problem` instead of raising"; docs/observability.md:
    `ResiduoStatusSectionDown` pages when "a status section [is] unreadable for 10 min
    (broker or database away)".

    Observed: only the broker sections catch their errors. With the database gone,
    the outbox section raises `OperationalError`, the whole scrape fails (HTTP 500,
    "A server error occurred"), every `residuo_status_up` disappears with it, and what
    pages is `ResiduoStatusExporterDown`, whose advice is to check the `metrics`
    container. Expected: the scrape answers, with `residuo_status_up{section="outbox"}
    0` (and the other database sections 0)."""
    settings = Settings(database_url=postgres_url, broker_url="memory")
    runtime = bootstrap(settings)
    try:
        upgrade(runtime.engine)
        registry = status_registry(runtime)
        assert status_up(generate_latest(registry))["outbox"] == 1

        database_refuses_connections(postgres_url, refuse=True)
        up = status_up(generate_latest(registry))
    finally:
        runtime.close()

    assert (up["outbox"], up["events"], up["sweeps"]) == (0, 0, 0)
