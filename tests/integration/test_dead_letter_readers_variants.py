"""Dead letters and their readers, beyond attack10's reproductions, on real RabbitMQ and
PostgreSQL: routine readings never touch a dead letter, the books judge resolution
and say when they cannot, and every verb that did less than asked exits non-zero."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from integration.test_attack10_dead_letter_readers import (
    cli,
    dead_letter_one,
    hold_every_dead_letter,
    settings_for,
    xq_depth,
    xq_row,
)
from integration.test_poison_rabbitmq import payment, running
from integration.test_rabbitmq_pipeline import DEADLINE_S, Pipeline
from prometheus_client import generate_latest
from servers import RabbitMQServer
from sqlalchemy import func, select

import residuo.cli_ops
from ledger.store import schema
from residuo.metrics import status_registry
from residuo.status import dead_letters_section
from workers.rabbitmq.dead_letter_queue import list_dead_letters

pytestmark = pytest.mark.integration

GARBAGE_ID = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"


@pytest.fixture
def pipeline(postgres_url: str, rabbitmq_url: str) -> Iterator[Pipeline]:
    """A pipeline that finds no management API (residuo guesses port 15672)."""
    with running(settings_for(postgres_url, rabbitmq_url)) as started:
        yield started


@pytest.fixture
def pipeline_with_api(
    postgres_url: str, rabbitmq_url: str, rabbitmq_server: RabbitMQServer
) -> Iterator[Pipeline]:
    if rabbitmq_server.management_url is None:
        pytest.skip("this broker's management API is unknown (RESIDUO_TEST_RABBITMQ_URL)")
    settings = settings_for(
        postgres_url, rabbitmq_url, broker_management_url=rabbitmq_server.management_url
    )
    with running(settings) as started:
        yield started


def test_status_and_scrapes_never_take_a_dead_letter(pipeline: Pipeline) -> None:
    """Twenty status readings and five full scrapes later, the dead letter has never
    been delivered to anyone: the first reader to take it gets it unredelivered."""
    dead_letter_one(pipeline)

    for _ in range(20):
        dead_letters_section(pipeline.runtime)
    registry = status_registry(pipeline.runtime)
    for _ in range(5):
        generate_latest(registry)

    connection = pika.BlockingConnection(pika.URLParameters(pipeline.url))
    try:
        method, _, body = connection.channel().basic_get("residuo.events.XQ", auto_ack=False)
    finally:
        connection.close()
    assert body == b"hello world"
    assert method.redelivered is False


def test_without_the_management_api_status_says_held_letters_are_not_counted(
    pipeline: Pipeline,
) -> None:
    """No API (none on the guessed port): what AMQP counts, and a note that a letter a
    reader holds meanwhile is missing from it (and, the books expecting one more,
    that resolution is unknown)."""
    dead_letter_one(pipeline)

    other_reader = hold_every_dead_letter(pipeline.url)
    try:
        section = dead_letters_section(pipeline.runtime)
    finally:
        other_reader.close()

    (row,) = [each for each in section.rows if each["queue"] == "residuo.events.XQ"]
    assert (row["messages"], row["resolved"]) == (0, None)
    assert section.problem is None
    assert section.note is not None
    assert "letters a reader holds are not counted" in section.note
    assert "the books expect 1 dead letters in residuo.events.XQ, it holds 0" in section.note


def test_a_correction_resolves_and_a_purge_makes_resolution_unknown(
    pipeline_with_api: Pipeline,
) -> None:
    """An invalid payment, then its correction: 1 dead letter, resolved. The queue
    purged behind residuo's back and a garbage body dead-lettered: the books still
    expect the purged letter, so nothing is counted resolved (the garbage would
    otherwise hide behind it) and a note says why."""
    pipeline = pipeline_with_api
    valid = payment(1)
    invalid = valid | {"data": valid["data"] | {"amount": "10.001"}}
    pipeline.publish(json.dumps(invalid), "payment.received")
    wait_for_row(pipeline, {"messages": 1, "resolved": 0, "unresolved": 1})
    pipeline.publish(json.dumps(valid), "payment.received")
    resolved = wait_for_row(pipeline, {"messages": 1, "resolved": 1, "unresolved": 0})

    connection = pika.BlockingConnection(pika.URLParameters(pipeline.url))
    try:
        connection.channel().queue_purge("residuo.events.XQ")
    finally:
        connection.close()
    dead_letter_one(pipeline)
    after = wait_for_row(pipeline, {"messages": 1, "resolved": None, "unresolved": 1})

    assert resolved["unresolved"] == 0
    assert after["unresolved"] == 1
    note = dead_letters_section(pipeline.runtime).note or ""
    assert "the books expect 2 dead letters in residuo.events.XQ, it holds 1" in note


@pytest.mark.parametrize("verb", ["drop", "archive"])
def test_a_removal_that_removes_nothing_exits_1_naming_the_letter(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    """As for replay: another reader takes the letter between the walk that chose it
    and the walk that acts; the verb says it was not removed and exits 1, and no
    audit row claims it was."""
    dead_letter_one(pipeline)
    readers: list[pika.BlockingConnection] = []
    listed = list_dead_letters

    def list_then_another_reader_arrives(*args: Any, **kwargs: Any) -> Any:
        letters = listed(*args, **kwargs)
        readers.append(hold_every_dead_letter(pipeline.url))
        return letters

    monkeypatch.setattr(residuo.cli_ops, "list_dead_letters", list_then_another_reader_arrives)
    try:
        result = cli(
            tmp_path,
            pipeline.url,
            "dead-letters",
            verb,
            GARBAGE_ID,
            "--reason",
            "x",
            "--operator",
            "ops",
        )
    finally:
        for reader in readers:
            reader.close()

    assert result.exit_code == 1, result.output
    assert f"not {verb}ped" in result.output or f"not {verb}d" in result.output
    assert GARBAGE_ID in result.output
    assert xq_depth(pipeline.url) == 1
    with pipeline.runtime.engine.connect() as connection:
        audited = connection.execute(
            select(func.count()).select_from(schema.dead_letter_dispositions)
        ).scalar_one()
    assert audited == 0


def test_the_verbs_refuse_a_queue_of_no_one_in_one_line_and_find_none_where_none_is(
    rabbitmq_url: str, tmp_path: Path
) -> None:
    """`list --queue` with a typo is a one-line error too (it listed nothing, silently);
    residuo's own queue without a `.XQ` yet holds no dead letters: `replay --all` there
    replays none and exits 0, naming an id there exits 1."""
    typo = cli(tmp_path, rabbitmq_url, "dead-letters", "list", "--queue", "residuo.sweep")
    everything = cli(
        tmp_path, rabbitmq_url, "dead-letters", "replay", "--all", "--queue", "residuo.sweeps"
    )
    named = cli(
        tmp_path,
        rabbitmq_url,
        "dead-letters",
        "drop",
        "some-id",
        "--reason",
        "x",
        "--operator",
        "ops",
        "--queue",
        "residuo.sweeps",
    )

    assert typo.exit_code == 2
    assert "residuo: error: --queue 'residuo.sweep' is not one of residuo's queues" in typo.output
    assert everything.exit_code == 0, everything.output
    assert "replayed 0 dead letters to residuo.sweeps" in everything.output
    assert named.exit_code == 1
    assert "no dead letter in residuo.sweeps for: some-id" in named.output


def test_a_decision_is_signed_by_residuo_operator_and_never_by_nobody(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run as `nobody` (the image's user), `drop` without `--operator` is refused and
    the letter stays; with `RESIDUO_OPERATOR` set it is dropped, signed by that name."""
    dead_letter_one(pipeline)
    monkeypatch.setattr("getpass.getuser", lambda: "nobody")
    arguments = ("dead-letters", "drop", GARBAGE_ID, "--reason", "garbage")

    refused = cli(tmp_path, pipeline.url, *arguments)
    kept = xq_depth(pipeline.url)
    monkeypatch.setenv("RESIDUO_OPERATOR", "anna")
    signed = cli(tmp_path, pipeline.url, *arguments)

    assert refused.exit_code == 2
    assert "residuo: error: say who decides" in refused.output
    assert kept == 1
    assert signed.exit_code == 0, signed.output
    assert "dropped 1 dead letters of residuo.events, by anna" in signed.output
    assert xq_depth(pipeline.url) == 0


def wait_for_row(pipeline: Pipeline, expected: dict[str, Any]) -> dict[str, Any]:
    """The `residuo.events.XQ` row of status once it shows ``expected``."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        row = xq_row(pipeline)
        if all(row[key] == value for key, value in expected.items()):
            return row
        assert time.monotonic() < deadline, f"status never showed {expected}: {row}"
        time.sleep(0.2)
