"""On PostgreSQL the relay is woken by the outbox's ``NOTIFY`` (migration 0005_perf,
``workers.outbox_wakeup``), not by its poll: with a poll interval of an hour, a
notification committed while the relay idles still reaches RabbitMQ, and the relay's
wake-up says it was woken. No duration is measured."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from integration.test_relay_rabbitmq import drain, queue_notifications, running, wait_until
from sqlalchemy import Engine

from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from workers.outbox_wakeup import ListeningWakeup
from workers.rabbitmq.publisher import RabbitmqPublisher
from workers.relay import Relay

AN_HOUR_MS = 3_600_000


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_database_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


class RecordingWakeup(ListeningWakeup):
    """The real wake-up, counting the waits begun and those ended by a notification."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.waits = 0
        self.woken = 0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event, timeout_ms: int) -> bool:
        with self._lock:
            self.waits += 1
        woken = super().wait(stop, timeout_ms)
        with self._lock:
            self.woken += woken
        return woken

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.waits, self.woken


def test_a_notification_committed_while_the_relay_idles_wakes_it(
    engine: Engine, rabbitmq_url: str
) -> None:
    """The relay's second wait is a listening one (the first opened the connection and
    looked at once); a row committed then is published without any poll."""
    wakeup = RecordingWakeup(engine)
    relay = Relay(
        engine, RabbitmqPublisher(rabbitmq_url), poll_interval_ms=AN_HOUR_MS, wakeup=wakeup
    )
    with running(relay):
        wait_until(lambda: wakeup.counts()[0] >= 2, "the relay to idle, listening")
        _, woken_before = wakeup.counts()

        identifiers = queue_notifications(engine, 3)

        published: list[Any] = []
        wait_until(
            lambda: len(published.__iadd__(drain(rabbitmq_url))) == 3,
            "the notifications on the queue",
        )
        assert [message_id for message_id, _, _ in published] == identifiers
        assert wakeup.counts()[1] > woken_before
