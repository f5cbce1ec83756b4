"""Looking at the broker from the outside: queue depths, for ``residuo status``.

Each question opens its own short-lived connection: the commands that ask are
one-shot, and must not share the workers' connections or disturb their consumers.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import pika
import pika.exceptions

from workers.rabbitmq.topology import connection_parameters

__all__ = ["QueueDepth", "open_channel", "queue_depths"]

_NOT_FOUND: Final = 404


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """A queue's ready messages and consumers; both None if the queue does not exist.

    Messages a consumer holds unacknowledged (in flight, or a retry waiting for its
    time in a worker) are not counted as ready.
    """

    queue: str
    ready: int | None
    consumers: int | None


@contextmanager
def open_channel(url: str, *, confirms: bool = False) -> Iterator[Any]:
    """A channel on a connection of its own, closed (with it) on the way out."""
    connection = pika.BlockingConnection(connection_parameters(url))
    try:
        channel = connection.channel()
        if confirms:
            channel.confirm_delivery()
        yield channel
    finally:
        if connection.is_open:
            connection.close()


def queue_depths(url: str, queue_names: Sequence[str]) -> list[QueueDepth]:
    """Depths of ``queue_names``, by passive declaration (nothing is created)."""
    depths = []
    with open_channel(url) as first:
        channel = first
        for name in queue_names:
            try:
                declared = channel.queue_declare(name, passive=True)
            except pika.exceptions.ChannelClosedByBroker as error:
                if error.reply_code != _NOT_FOUND:
                    raise
                depths.append(QueueDepth(name, None, None))
                # A failed passive declaration closes the channel: take a new one.
                channel = channel.connection.channel()
                continue
            method = declared.method
            depths.append(QueueDepth(name, method.message_count, method.consumer_count))
    return depths
