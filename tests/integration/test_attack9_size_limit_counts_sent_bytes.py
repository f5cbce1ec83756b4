"""attack9: ``RESIDUO_MAX_BODY_BYTES`` is checked twice: by ingress on the bytes
received, then by ``RejectInvalidEvents`` on the event *re-encoded* as canonical JSON,
where every non-ASCII character becomes a six-byte ``\\uXXXX`` escape. A 43 kB body
(a payment whose reference is Italian text) passes ingress under a 64 KiB limit and
is then refused as ``body_too_large`` ("the body is 72,… bytes"): a valid event
within the limit, dead-lettered.

Expected: the limit bounds what was sent, as documented ("a body over
RESIDUO_MAX_BODY_BYTES is not decoded at all"); a body within it is judged.
"""

from __future__ import annotations

import json

import pytest
from integration.test_poison_rabbitmq import (
    MAX_BODY_BYTES,
    payment,
    pipeline,  # noqa: F401 - the fixture
)
from integration.test_rabbitmq_pipeline import Pipeline, wait_until

from ledger.store import schema

pytestmark = pytest.mark.reliability


def test_attack9_a_body_within_the_size_limit_is_not_refused_as_too_large(
    pipeline: Pipeline,  # noqa: F811 - the fixture
) -> None:
    event = payment(1)
    event["data"]["reference"] = "città già più " * 2_500
    body = json.dumps(event, ensure_ascii=False).encode()
    assert len(body) < MAX_BODY_BYTES

    pipeline.publish(body, "payment.received")
    pipeline.publish(json.dumps(payment(2)), "payment.received")

    wait_until(
        lambda: pipeline.count(schema.inbox) + pipeline.count(schema.rejected_events) >= 2,
        "both payments judged",
    )
    assert pipeline.count(schema.rejected_events) == 0
    assert pipeline.count(schema.orders) == 2
