"""The delivery-limit policy docs/rabbitmq.md gives for quorum queues leaves the
dead-letter queues out, on a real RabbitMQ: an operator's reads of a `.XQ` never use
up a dead letter, however small the limit."""

from __future__ import annotations

import base64
import json
import re
import shlex
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from integration.test_attack10_dead_letter_readers import (
    dead_letter_one,
    set_policy,
    settings_for,
    xq_depth,
)
from integration.test_poison_rabbitmq import running
from integration.test_rabbitmq_pipeline import DEADLINE_S
from servers import RabbitMQServer

from residuo.settings import Settings
from workers.rabbitmq.dead_letter_queue import list_dead_letters
from workers.rabbitmq.management import ManagementApi

pytestmark = pytest.mark.integration

RABBITMQ_MD = Path(__file__).resolve().parents[2] / "docs" / "rabbitmq.md"


def documented_policy(name: str) -> tuple[str, dict[str, Any]]:
    """The pattern and definition of ``rabbitmqctl set_policy … NAME PATTERN DEFINITION``
    as docs/rabbitmq.md writes it."""
    (line,) = [
        each.strip()
        for each in RABBITMQ_MD.read_text().splitlines()
        if re.match(rf"\s*rabbitmqctl set_policy .* {re.escape(name)} ", each)
    ]
    *_, pattern, definition = shlex.split(line)
    return pattern, json.loads(definition)


def applied_policies(settings: Settings, server: RabbitMQServer) -> dict[str, str | None]:
    """Each queue of the vhost → the policy RabbitMQ applies to it (management API)."""
    api = ManagementApi.for_broker(settings.broker_url, server.management_url)
    path = f"api/queues/{urllib.parse.quote(api.vhost, safe='')}?columns=name,policy"
    request = urllib.request.Request(api.url.rstrip("/") + "/" + path)
    credentials = base64.b64encode(f"{api.username}:{api.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {credentials}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return {each["name"]: each.get("policy") for each in json.load(response)}


def test_the_documented_limit_for_work_queues_leaves_the_dead_letter_queues_out(
    postgres_url: str, rabbitmq_url: str, rabbitmq_server: RabbitMQServer
) -> None:
    """The pattern of `residuo-limit` applies to the work and delay queues and to no
    `.XQ`: with the smallest limit, ten `dead-letters list` of a quorum `.XQ` leave its
    dead letter where it was."""
    if rabbitmq_server.management_url is None:
        pytest.skip("this broker's management API is unknown (RESIDUO_TEST_RABBITMQ_URL)")
    pattern, definition = documented_policy("residuo-limit")
    assert definition == {"delivery-limit": 50}
    set_policy(rabbitmq_server, rabbitmq_url, {"delivery-limit": 1}, pattern=pattern)
    settings = settings_for(postgres_url, rabbitmq_url, broker_queue_type="quorum")
    with running(settings) as pipeline:
        dead_letter_one(pipeline)

        for _ in range(10):
            (letter,) = list_dead_letters(pipeline.url, ["residuo.events"], limit=10)
        policies = wait_for_policies(settings, rabbitmq_server)

        assert xq_depth(pipeline.url) == 1
    assert letter.reason == "bad_json"
    assert {name: policies[name] for name in sorted(policies)} == {
        "residuo.events": "residuo-limit",
        "residuo.events.DQ": "residuo-limit",
        "residuo.events.XQ": None,
        "residuo.notifications": "residuo-limit",
        "residuo.sweeps": "residuo-limit",
        "residuo.sweeps.DQ": "residuo-limit",
        "residuo.sweeps.XQ": None,
    }


def test_the_documented_policy_for_dead_letter_queues_names_only_them() -> None:
    """`residuo-dead-letters` (RabbitMQ 4.x only: 3.10 refuses `-1`, so it is read, not
    applied here) matches every `.XQ` and no other queue of residuo."""
    pattern, definition = documented_policy("residuo-dead-letters")
    queues = ["residuo.events", "residuo.events.DQ", "residuo.notifications", "residuo.sweeps"]
    queues += ["residuo.sweeps.DQ", "residuo.events.XQ", "residuo.sweeps.XQ"]

    matched = [name for name in queues if re.search(pattern, name)]

    assert definition == {"delivery-limit": -1}
    assert matched == ["residuo.events.XQ", "residuo.sweeps.XQ"]


def wait_for_policies(settings: Settings, server: RabbitMQServer) -> dict[str, str | None]:
    """Policies apply asynchronously to queues just declared: poll until every queue
    of the vhost shows one, or the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        policies = applied_policies(settings, server)
        if len(policies) == 7 and policies.get("residuo.events"):
            return policies
        assert time.monotonic() < deadline, f"policies never applied: {policies}"
        time.sleep(0.2)
