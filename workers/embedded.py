"""Running the real actors in this process, one message at a time, in order.

The embedded pipeline (``residuo replay``, ``residuo demo``, tests) enqueues a
message on the in-memory broker, lets a Dramatiq worker process it (middleware,
retries and all), and waits until the queue is drained before the next one: the
order of the input is the order of the books.
"""

from dataclasses import dataclass
from types import TracebackType
from typing import Final, Literal, Self

from dramatiq import Message, Worker
from dramatiq.brokers.stub import StubBroker

from workers.middleware import DEAD_LETTER_OPTION

__all__ = ["Delivery", "EmbeddedWorker"]

# How long idle worker threads wait before checking for shutdown: short, so that a
# replay ends promptly after its last line.
_IDLE_TIMEOUT_MS: Final = 50


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one message: processed, rejected as invalid, or failed for good.

    ``detail`` says why a message was dead-lettered: the rejection reason and detail,
    or why it was given up on (``processing_error: ValueError: …``).
    """

    message_id: str
    status: Literal["processed", "rejected", "failed"]
    detail: str | None = None


class EmbeddedWorker:
    """A single-threaded Dramatiq worker over a ``StubBroker``, used as a context manager."""

    def __init__(self, broker: StubBroker) -> None:
        self._broker = broker
        self._worker = Worker(broker, worker_threads=1, worker_timeout=_IDLE_TIMEOUT_MS)

    def __enter__(self) -> Self:
        self._worker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._worker.stop()

    def deliver(self, message: Message[None]) -> Delivery:
        """Enqueue ``message`` and return once it, and any retry of it, is settled."""
        self._broker.enqueue(message)
        self._broker.join(message.queue_name, fail_fast=False)
        self._worker.join()
        for dead in self._broker.dead_letters_by_queue[message.queue_name]:
            if dead.message_id != message.message_id:
                continue
            rejection = dead.options.get("rejection")
            if rejection is not None:
                return Delivery(
                    message.message_id, "rejected", f"{rejection['reason']}: {rejection['detail']}"
                )
            given_up = dead.options.get(DEAD_LETTER_OPTION)
            if given_up is None:
                return Delivery(message.message_id, "failed", "dead-lettered: see the worker log")
            return Delivery(
                message.message_id, "failed", f"{given_up['reason']}: {given_up['detail']}"
            )
        return Delivery(message.message_id, "processed")
