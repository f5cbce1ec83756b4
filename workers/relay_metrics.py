"""The relay's metrics and its DEBUG line per notification, around any publisher.

``MeasuredPublisher`` wraps the relay's publisher: the relay is unchanged, and every
publish is timed from the call to the broker's confirm (``publish`` returns only
once the message is confirmed), counted by notification type when confirmed, and
counted as a failure otherwise.

==========================================  =========  ========================
metric                                      type       labels
==========================================  =========  ========================
``residuo_notifications_published_total``   counter    ``type``
``residuo_relay_publish_failures_total``    counter    ``type``
``residuo_relay_confirm_seconds``           histogram  (none)
==========================================  =========  ========================

Notification types are residuo's own (``credit.granted``, …), a bounded set.
"""

import time
from typing import Final

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from workers.relay import BrokerPublisher

__all__ = ["MeasuredPublisher", "RelayMetrics"]

# A confirm of a persistent message takes a disk write: from a millisecond to
# seconds when the broker is under a resource alarm.
_CONFIRM_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

_logger = structlog.get_logger(__name__)


class RelayMetrics:
    """The relay's counters and its confirm-latency histogram, on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "residuo_notifications_published",
            "Notifications published and confirmed by the broker, by type.",
            ("type",),
            registry=registry,
        )
        self.failures = Counter(
            "residuo_relay_publish_failures",
            "Publishes that failed (not confirmed); the notification stays in the outbox.",
            ("type",),
            registry=registry,
        )
        self.confirm_seconds = Histogram(
            "residuo_relay_confirm_seconds",
            "Time from publishing a notification to the broker's confirm.",
            buckets=_CONFIRM_BUCKETS,
            registry=registry,
        )


class MeasuredPublisher(BrokerPublisher):
    """``publisher``, timed and counted into ``metrics``; logs each notification's id
    and type at DEBUG once confirmed."""

    def __init__(self, publisher: BrokerPublisher, metrics: RelayMetrics) -> None:
        self._publisher = publisher
        self._metrics = metrics

    def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        started = time.perf_counter()
        try:
            self._publisher.publish(routing_key, body, message_id)
        except Exception:
            self._metrics.failures.labels(routing_key).inc()
            raise
        self._metrics.confirm_seconds.observe(time.perf_counter() - started)
        self._metrics.published.labels(routing_key).inc()
        _logger.debug("notification published", notification_id=message_id, type=routing_key)

    def keepalive(self) -> None:
        self._publisher.keepalive()

    def close(self) -> None:
        self._publisher.close()
