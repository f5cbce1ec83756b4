"""The relay loop on SQLite: it drains the outbox, rides out a failing publisher, and
stops when asked, closing its connection."""

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, func, select
from unit.outbox_kit import queue_notifications

from ledger.store import schema
from workers.relay import PublishError, Relay

DEADLINE_S = 30


def unpublished(engine: Engine) -> int:
    query = select(func.count()).where(schema.outbox.c.published_at.is_(None))
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


class FlakyPublisher:
    """Refuses the ``fail_at``-th publish once, as a broker going away would."""

    def __init__(self, fail_at: int) -> None:
        self.published: list[str] = []
        self.attempts = 0
        self.fail_at = fail_at
        self.closed = False

    def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        self.attempts += 1
        if self.attempts == self.fail_at:
            raise PublishError("broker unreachable")
        self.published.append(message_id)

    def keepalive(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_the_loop_drains_the_outbox_through_a_failure_in_order_then_stops(
    engine: Engine,
) -> None:
    """A publish that fails leaves its row for the next attempt: every row goes out
    once, in order; once stopped, the loop returns and closes the publisher."""
    ids = queue_notifications(engine, 25)
    publisher = FlakyPublisher(fail_at=7)
    stop = threading.Event()
    loop = threading.Thread(
        target=Relay(engine, publisher, batch_size=10, poll_interval_ms=10).run, args=(stop,)
    )
    loop.start()
    deadline = time.monotonic() + DEADLINE_S
    while unpublished(engine):
        assert time.monotonic() < deadline, "the relay never drained the outbox"
        time.sleep(0.01)

    stop.set()
    loop.join(timeout=DEADLINE_S)

    assert not loop.is_alive()
    assert publisher.published == ids
    assert publisher.closed


class SwitchablePublisher:
    """A broker that answers, or not, as the test says."""

    def __init__(self) -> None:
        self.reachable = True

    def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        self.keepalive()

    def keepalive(self) -> None:
        if not self.reachable:
            raise PublishError("broker unreachable")

    def close(self) -> None:
        pass


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def test_the_relay_is_ready_while_its_broker_answers(engine: Engine) -> None:
    """Not ready before its first round; ready while idle with the broker answering;
    not ready while the broker does not; ready again once it answers."""
    publisher = SwitchablePublisher()
    relay = Relay(engine, publisher, poll_interval_ms=10)
    assert not relay.is_ready()
    stop = threading.Event()
    loop = threading.Thread(target=relay.run, args=(stop,))
    loop.start()
    try:
        wait_for(relay.is_ready, "ready")
        publisher.reachable = False
        wait_for(lambda: not relay.is_ready(), "not ready")
        publisher.reachable = True
        wait_for(relay.is_ready, "ready again")
    finally:
        stop.set()
        loop.join(timeout=DEADLINE_S)
