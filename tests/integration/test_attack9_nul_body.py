"""attack9: a body holding a NUL byte (not JSON: refused as ``bad_json``) cannot be
reported on PostgreSQL. ``Ledger.reject`` keeps the body as text, and PostgreSQL text
cannot hold NUL: the report fails with a ``DataError``, classified a processing
error, tried again, then again as the "tell ops" copy for ``max_retries`` attempts
with backoff (hours with the default settings), and the body is finally
dead-lettered "ops could not be told": no ``event.rejected``, no ``rejected_events``
row.

Expected: every refused body is reported once (issue 9: "ops get ``event.rejected``").
"""

from __future__ import annotations

import pytest
from integration.test_poison_rabbitmq import pipeline  # noqa: F401 - the fixture
from integration.test_rabbitmq_pipeline import Pipeline

from ledger.store import schema

pytestmark = pytest.mark.reliability


def test_attack9_a_body_with_a_nul_byte_is_reported_to_ops(
    pipeline: Pipeline,  # noqa: F811 - the fixture
) -> None:
    poison = b'{"id": "evt-nul", "type": "payment.received", "note": "\x00"}'

    pipeline.publish(poison, "payment.received")

    ((properties, body),) = pipeline.dead_letters(1)
    assert body == poison
    assert properties.headers["x-residuo-reason"] == "bad_json"
    assert "ops could not be told" not in properties.headers["x-residuo-detail"]
    assert pipeline.count(schema.rejected_events) == 1
