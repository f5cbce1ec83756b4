"""What docs/rabbitmq.md tells upstream publishers, on a real RabbitMQ: between the
events exchange's declaration and its binding, a publish without ``mandatory`` is
confirmed and lost, and one with ``mandatory`` is returned, so ``publish_routed``
(what the tests publish with) tries it again until the binding exists."""

import threading
import time
from collections.abc import Iterator

import pika
import pytest
from pika.adapters.blocking_connection import BlockingChannel
from publishing import EVENTS_EXCHANGE, PERSISTENT, publish_routed

QUEUE = "unbound-yet"


@pytest.fixture
def channel(rabbitmq_url: str) -> Iterator[BlockingChannel]:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        opened = connection.channel()
        opened.exchange_declare(EVENTS_EXCHANGE, "topic", durable=True)
        opened.queue_declare(QUEUE, durable=True)
        yield opened
    finally:
        connection.close()


def _depth(channel: BlockingChannel) -> int:
    return int(channel.queue_declare(QUEUE, passive=True).method.message_count)


def test_a_publish_without_mandatory_before_the_binding_is_confirmed_and_lost(
    channel: BlockingChannel,
) -> None:
    channel.confirm_delivery()
    channel.basic_publish(EVENTS_EXCHANGE, "payment.received", b"{}", PERSISTENT)
    channel.queue_bind(QUEUE, EVENTS_EXCHANGE, "#")

    assert _depth(channel) == 0


def test_publish_routed_publishes_again_until_the_binding_exists(
    rabbitmq_url: str, channel: BlockingChannel
) -> None:
    def bind_later() -> None:
        time.sleep(0.5)
        binder = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
        try:
            binder.channel().queue_bind(QUEUE, EVENTS_EXCHANGE, "#")
        finally:
            binder.close()

    binding = threading.Thread(target=bind_later)
    binding.start()
    try:
        publish_routed(rabbitmq_url, [("payment.received", b"first"), ("x.y", b"second")])
    finally:
        binding.join()

    assert _depth(channel) == 2
    bodies = []
    for _ in range(2):
        _, _, body = channel.basic_get(QUEUE, auto_ack=True)
        bodies.append(body)
    assert bodies == [b"first", b"second"]


def test_publish_routed_gives_up_on_a_message_nothing_routes(rabbitmq_url: str) -> None:
    with pytest.raises(AssertionError, match="never routed"):
        publish_routed(rabbitmq_url, [("payment.received", b"{}")], deadline_s=0.3)
