"""The relay measured: publishes counted by type, failures counted, confirms timed, and
each notification's id and type at DEBUG."""

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from structlog.testing import capture_logs
from unit.outbox_kit import queue_notifications

from workers.relay import PublishError, relay_batch, relay_pending
from workers.relay_metrics import MeasuredPublisher, RelayMetrics


class RefusingPublisher:
    """Refuses the first ``refusals`` publishes, as a broker going away would, then
    takes the rest."""

    def __init__(self, refusals: int = 0) -> None:
        self.published: list[str] = []
        self.refusals = refusals
        self.closed = False

    def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        if self.refusals:
            self.refusals -= 1
            raise PublishError("broker unreachable")
        self.published.append(message_id)

    def keepalive(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_publishes_are_counted_by_type_and_timed_and_failures_counted(engine: Engine) -> None:
    """One refused publish, then five confirmed: the counters and the histogram say so."""
    ids = queue_notifications(engine, 5)
    registry = CollectorRegistry()
    inner = RefusingPublisher(refusals=1)
    publisher = MeasuredPublisher(inner, RelayMetrics(registry))

    with pytest.raises(PublishError):
        relay_batch(engine, publisher)
    relay_pending(engine, publisher)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert inner.published == ids
    assert value("residuo_notifications_published_total", type="credit.granted") == 5
    assert value("residuo_relay_publish_failures_total", type="credit.granted") == 1
    assert value("residuo_relay_confirm_seconds_count") == 5


def test_each_notification_is_logged_with_its_id_and_type_at_debug(engine: Engine) -> None:
    """The relay's INFO line counts; the DEBUG lines name every notification."""
    ids = queue_notifications(engine, 3)
    publisher = MeasuredPublisher(RefusingPublisher(), RelayMetrics(CollectorRegistry()))

    with capture_logs() as logs:
        relay_pending(engine, publisher)

    published = [line for line in logs if line["event"] == "notification published"]
    assert [line["notification_id"] for line in published] == ids
    assert {line["type"] for line in published} == {"credit.granted"}
    assert {line["log_level"] for line in published} == {"debug"}


def test_closing_and_keepalive_reach_the_wrapped_publisher() -> None:
    """The relay's idle and shutdown calls go through unchanged."""
    inner = RefusingPublisher()
    publisher = MeasuredPublisher(inner, RelayMetrics(CollectorRegistry()))

    publisher.close()
    assert inner.closed
    publisher.keepalive()
    assert not inner.closed
