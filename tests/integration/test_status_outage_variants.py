"""`residuo status` and `residuo metrics` with the database gone and the broker up, on
real servers: each database section says why it is down, and the dead letters are
still counted, every one unresolved, since only the books can say which are resolved."""

from __future__ import annotations

import pytest
from integration.test_attack10_dead_letter_readers import dead_letter_one, settings_for
from integration.test_attack10_status_exporter import (
    database_outage,  # noqa: F401 (a fixture)
    database_refuses_connections,
    status_up,
)
from integration.test_poison_rabbitmq import running
from prometheus_client import generate_latest

from residuo.metrics import status_registry
from residuo.status import collect

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("database_outage")
def test_with_the_database_down_dead_letters_are_still_counted_and_all_unresolved(
    postgres_url: str, rabbitmq_url: str
) -> None:
    with running(settings_for(postgres_url, rabbitmq_url)) as pipeline:
        dead_letter_one(pipeline)
        registry = status_registry(pipeline.runtime)

        database_refuses_connections(postgres_url, refuse=True)
        sections = {each.key: each for each in collect(pipeline.runtime)}
        exposition = generate_latest(registry)

    for key in ("outbox", "events", "sweeps"):
        assert (sections[key].problem or "").startswith("database unreachable: "), key
    dead_letters = sections["dead_letters"]
    assert dead_letters.problem is None
    assert "resolved unknown: the books cannot be read" in (dead_letters.note or "")
    (row,) = [each for each in dead_letters.rows if each["queue"] == "residuo.events.XQ"]
    assert (row["messages"], row["resolved"], row["unresolved"]) == (1, None, 1)
    assert status_up(exposition) == {
        "queues": 1,
        "dead_letters": 1,
        "outbox": 0,
        "events": 0,
        "sweeps": 0,
    }
    assert b'residuo_dead_letters{queue="residuo.events.XQ"} 1.0' in exposition
