"""Attack on issue 10 as an operator at 3 a.m.: dead letters read by more than one
reader at once, on real RabbitMQ and PostgreSQL.

`residuo status`, every scrape of `residuo metrics`, `dead-letters list`, and each of
`replay`/`drop`/`archive` (twice: to choose, then to act) walk a `.XQ` with
`basic.get` and no ack, holding every message they read until their channel closes.
A message held so is invisible to every other reader (`queue.declare`'s count leaves
it out, `basic.get` skips it), and on a quorum queue each return counts as a failed
delivery.

Each test fails on the code it was written against; the docstrings say what was
observed and what is expected."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from integration.test_poison_rabbitmq import running
from integration.test_rabbitmq_pipeline import DEADLINE_S, Pipeline
from servers import RabbitMQServer
from typer.testing import CliRunner

import residuo.cli_ops
from residuo.cli import app
from residuo.settings import Settings
from residuo.status import dead_letters_section
from workers.rabbitmq.dead_letter_queue import list_dead_letters
from workers.rabbitmq.management import ManagementApi

pytestmark = pytest.mark.integration

GARBAGE = b"hello world"
"""A body that is not JSON: dead-lettered `bad_json`, id `sha256:b94d…`."""


def settings_for(postgres_url: str, rabbitmq_url: str, **extra: Any) -> Settings:
    return Settings(
        database_url=postgres_url, broker_url=rabbitmq_url, relay_poll_interval_ms=50, **extra
    )


@pytest.fixture
def pipeline(postgres_url: str, rabbitmq_url: str) -> Iterator[Pipeline]:
    with running(settings_for(postgres_url, rabbitmq_url)) as pipeline:
        yield pipeline


def xq_depth(url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        declared = connection.channel().queue_declare("residuo.events.XQ", passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def dead_letter_one(pipeline: Pipeline) -> None:
    pipeline.publish(GARBAGE, "payment.received")
    deadline = time.monotonic() + DEADLINE_S
    while xq_depth(pipeline.url) != 1:
        assert time.monotonic() < deadline, "the garbage was never dead-lettered"
        time.sleep(0.1)


def hold_every_dead_letter(url: str) -> pika.BlockingConnection:
    """What another `dead-letters list`, `status` or scrape does while it runs: get
    each dead letter without acknowledging it. Closing the connection returns them."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    while channel.basic_get("residuo.events.XQ", auto_ack=False)[0] is not None:
        pass
    return connection


def xq_row(pipeline: Pipeline) -> dict[str, Any]:
    rows = dead_letters_section(pipeline.runtime).rows
    (row,) = [each for each in rows if each["queue"] == "residuo.events.XQ"]
    return row


@pytest.fixture
def pipeline_with_api(
    postgres_url: str, rabbitmq_url: str, rabbitmq_server: RabbitMQServer
) -> Iterator[Pipeline]:
    """A pipeline told where the management API is: the test servers run it on a port
    of their own, not the 15672 residuo guesses (``RESIDUO_BROKER_MANAGEMENT_URL``)."""
    if rabbitmq_server.management_url is None:
        pytest.skip("this broker's management API is unknown (RESIDUO_TEST_RABBITMQ_URL)")
    settings = settings_for(
        postgres_url, rabbitmq_url, broker_management_url=rabbitmq_server.management_url
    )
    with running(settings) as pipeline:
        yield pipeline


def test_attack10_status_counts_the_dead_letters_another_reader_is_looking_at(
    pipeline_with_api: Pipeline,
) -> None:
    """Observed: while another reader holds the dead letter (an operator's `dead-letters
    list`, a second Prometheus scraping the same exporter, `status`), the dead-letters
    section reads `messages 0, unresolved 0`: `residuo_dead_letters` drops to 0 for
    that scrape, which resets the `for: 10m` of `ResiduoDeadLetters` (or resolves a
    firing alert); likewise `dead-letters drop ID` answers "no dead letter in
    residuo.events for: ID" (exit 1). Expected: 1 unresolved dead letter (count with
    the management API's `messages`, or read without holding).

    Corrected by the fixing branch: the test names the management API, as an operator
    must when it is not on port 15672 (no AMQP method counts what a reader holds;
    without it, status says in a note that such letters are not counted), and lets
    the API sample the dead letter before another reader takes it, as it has long
    done for a letter waiting for ops (its figures are up to
    `collect_statistics_interval` old)."""
    pipeline = pipeline_with_api
    dead_letter_one(pipeline)
    management_api_counts_one_dead_letter(pipeline)

    other_reader = hold_every_dead_letter(pipeline.url)
    try:
        row = xq_row(pipeline)
    finally:
        other_reader.close()

    assert (row["messages"], row["unresolved"]) == (1, 1)


def management_api_counts_one_dead_letter(pipeline: Pipeline) -> None:
    settings = pipeline.runtime.settings
    api = ManagementApi.for_broker(settings.broker_url, settings.broker_management_url)
    deadline = time.monotonic() + DEADLINE_S
    while (counted := api.queue_counts().get("residuo.events.XQ")) is None or counted.ready != 1:
        assert time.monotonic() < deadline, "the management API never counted the dead letter"
        time.sleep(0.2)


def set_policy(
    server: RabbitMQServer, url: str, definition: dict[str, Any], *, pattern: str = r"^residuo\."
) -> None:
    """`rabbitmqctl set_policy` through the management API, on ``url``'s vhost."""
    assert server.management_url is not None
    api = urllib.parse.urlsplit(server.management_url)
    vhost = urllib.parse.quote(urllib.parse.unquote(urllib.parse.urlsplit(url).path[1:]), "")
    request = urllib.request.Request(
        f"http://{api.hostname}:{api.port}/api/policies/{vhost}/residuo-limit",
        data=json.dumps(
            {"pattern": pattern, "definition": definition, "apply-to": "queues"}
        ).encode(),
        method="PUT",
        headers={"content-type": "application/json"},
    )
    password = urllib.parse.unquote(api.password or "")
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, f"http://{api.hostname}:{api.port}/", api.username or "", password)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
    with opener.open(request, timeout=10) as response:
        assert response.status in (201, 204)


def test_attack10_status_reads_do_not_use_up_a_quorum_dead_letters_delivery_limit(
    postgres_url: str, rabbitmq_url: str, rabbitmq_server: RabbitMQServer
) -> None:
    """docs/rabbitmq.md ("A cluster: quorum queues") recommends
    `rabbitmqctl set_policy --apply-to queues residuo-limit '^residuo\\.'
    '{"delivery-limit": 50}'` with `RESIDUO_BROKER_QUEUE_TYPE=quorum`. The pattern
    takes in `residuo.events.XQ` too, and each `status` (or `residuo metrics` scrape,
    every 15 s in the compose stack) returns every dead letter it read: RabbitMQ counts
    a delivery each time (`x-delivery-count`, checked on 3.10.8) and, past the limit,
    drops the message, since a `.XQ` has no dead-letter exchange of its own.

    Observed: after 51 reads (under 13 minutes of scrapes) the dead letter is gone,
    with no record and no report. RabbitMQ 4.x quorum queues have a delivery limit of
    20 by default, no policy needed. Expected: reading dead letters never consumes
    them (count without `basic.get`, or exclude `.XQ` from the documented policy and
    warn)."""
    if rabbitmq_server.management_url is None:
        pytest.skip("this broker's management API is unknown (RESIDUO_TEST_RABBITMQ_URL)")
    set_policy(rabbitmq_server, rabbitmq_url, {"delivery-limit": 50})
    settings = settings_for(postgres_url, rabbitmq_url, broker_queue_type="quorum")
    with running(settings) as pipeline:
        dead_letter_one(pipeline)

        for _ in range(51):
            dead_letters_section(pipeline.runtime)

        assert xq_depth(pipeline.url) == 1


def cli(tmp_path: Path, url: str, *arguments: str) -> Any:
    environment = {
        "RESIDUO_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "RESIDUO_BROKER_URL": url,
        "RESIDUO_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, list(arguments), env=environment)


def test_attack10_a_replay_that_replays_nothing_does_not_exit_0(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dead-letters replay ID` reads the `.XQ` once to choose (`_chosen`) and again to
    act (`replay_dead_letters`). A reader between the two (a scrape of `residuo
    metrics`, which reads the `.XQ` every 15 s) hides the letter from the second walk;
    the wrapper below makes that interleaving deterministic.

    Observed: "replayed 0 dead letters to residuo.events", exit status 0: the letter
    is still in the `.XQ`, and nothing says so (`_fail_on_missing` checks the first
    walk). The same holds for `drop` and `archive`. Expected: a non-zero exit naming
    the dead letter that was not replayed."""
    dead_letter_one(pipeline)
    readers: list[pika.BlockingConnection] = []
    listed = list_dead_letters

    def list_then_another_reader_arrives(*args: Any, **kwargs: Any) -> Any:
        letters = listed(*args, **kwargs)
        readers.append(hold_every_dead_letter(pipeline.url))
        return letters

    monkeypatch.setattr(residuo.cli_ops, "list_dead_letters", list_then_another_reader_arrives)
    dead_letter_id = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    try:
        result = cli(tmp_path, pipeline.url, "dead-letters", "replay", dead_letter_id, "--force")
    finally:
        for reader in readers:
            reader.close()

    assert xq_depth(pipeline.url) == 1, "the dead letter was not replayed"
    assert result.exit_code != 0, result.output


def test_attack10_acting_on_a_queue_without_dead_letters_is_a_one_line_error(
    rabbitmq_url: str, tmp_path: Path
) -> None:
    """docs/cli.md: "Errors are one line on stderr, `residuo: error: …`".

    Observed: `residuo dead-letters replay --all --queue residuo.sweep` (a typo, or a
    queue no worker has consumed yet) and `drop --resolved --queue …` end in a
    traceback, `DeadLetterQueueMissingError: residuo.sweep.XQ does not exist`:
    `list_dead_letters` swallows that error, so `_chosen`'s handler never sees it, and
    the second walk raises it unhandled. Expected: one line, exit status 1 or 2."""
    for arguments in (
        ("dead-letters", "replay", "--all", "--queue", "residuo.sweep"),
        ("dead-letters", "drop", "--resolved", "--reason", "x", "--queue", "residuo.sweep"),
    ):
        result = cli(tmp_path, rabbitmq_url, *arguments)

        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert "residuo: error:" in result.output
