"""Which queues this process's consumers are attached to, as last seen.

A consumer (``consumer.ResiduoConsumer``) reports its queue each time RabbitMQ hands
it a delivery or lets it wait idle on its channel, which an attached consumer does
at least once per Dramatiq ``worker_timeout`` (a second). A queue counts as
attached until ``grace`` after that: Dramatiq restarts a consumer a second after
it lost its connection, so a broker restarting or a node failing over does not make
the worker unready, while a consumer that cannot attach (credentials refused, a
vhost that does not exist, ``PRECONDITION_FAILED`` on its queue, the broker away)
does, once the grace is over, and a worker that never attached never is.
"""

import time
from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Final

from workers.heartbeat import Heartbeat

__all__ = ["ATTACH_GRACE", "ConsumerAttachments"]

ATTACH_GRACE: Final = timedelta(seconds=30)


class ConsumerAttachments:
    """The consumers' heartbeats, one per queue (see the module)."""

    def __init__(
        self, *, grace: timedelta = ATTACH_GRACE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._grace = grace
        self._clock = clock
        self._queues: dict[str, Heartbeat] = {}

    def seen(self, queue_name: str) -> None:
        """A consumer of ``queue_name`` is attached, now (any consumer thread)."""
        heartbeat = self._queues.get(queue_name)
        if heartbeat is None:
            # setdefault is atomic: two threads of one queue keep one heartbeat.
            heartbeat = self._queues.setdefault(
                queue_name, Heartbeat(within=self._grace, clock=self._clock)
            )
        heartbeat.beat()

    def attached(self, queue_names: Collection[str]) -> bool:
        """Whether every one of ``queue_names`` was seen attached within the grace;
        False for none at all (a worker with nothing to consume does no job)."""
        return bool(queue_names) and all(
            each in self._queues and self._queues[each].alive() for each in queue_names
        )
