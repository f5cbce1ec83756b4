"""Dramatiq's RabbitMQ broker, with the gaps that would lose messages closed.

* Publisher confirms and ``mandatory`` are always on: a publish returns only once
  RabbitMQ has the message in a queue, and a publish to a queue that vanished is
  re-declared and retried instead of dropped.
* Every publish rides out a broker that is briefly away: Dramatiq's enqueue gives up
  after six immediate attempts; here those attempts are repeated with backoff until
  ``publish_timeout_ms`` has passed, and only then does the caller see the error.
* Publisher connections get heartbeats (``topology.connection_parameters``), and a
  thread's connection, idle since its last publish, is polled before it is used:
  one the broker closed meanwhile is replaced rather than failing the publish.
* Dead-letter queues (``.XQ``) keep their messages until someone replays or purges
  them: Dramatiq declares them with a 7-day ``x-message-ttl``, after which a valid
  event dead-lettered by a long outage would be silently gone.
* Every queue is declared ``classic`` or ``quorum`` (``queue_type``), the replicated
  type for a cluster (see ``topology``).
* A queue may carry exchange bindings, re-created whenever Dramatiq (re-)declares
  the queue, and may accept raw bodies, turned into messages by a router of the
  application's (``accept_raw_bodies``): see ``consumer.ResiduoConsumer``.
* Only residuo's own messages are taken as Dramatiq messages (``decode``): what
  arrives through a queue's bound exchange (where upstream publishes) is a raw body,
  whatever it looks like, so a body shaped like a Dramatiq message cannot name an
  actor, its arguments or its options (an ``eta`` that would park it in a worker's
  memory for centuries). A Dramatiq message must name the queue it arrived on and an
  actor of that queue, and an inbound event's actor takes the event as its only
  argument.
* A message whose headers pika cannot decode (``properties``) is received, not
  fatal to the connection that carries it.
* Its consumers say which queues they are attached to (``attachments``), for the
  worker's readiness.
"""

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import pika.exceptions
import structlog
from dramatiq import Message, Middleware
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.common import q_name, xq_name
from dramatiq.errors import ConnectionClosed, DecodeError

from workers.backoff import Deadline, delays_ms, sleep_ms
from workers.middleware import INBOUND_EVENT_OPTION, body_bytes
from workers.rabbitmq.attachments import ConsumerAttachments
from workers.rabbitmq.consumer import ResiduoConsumer
from workers.rabbitmq.properties import read_unreadable_headers
from workers.rabbitmq.topology import CLASSIC, QueueType, connection_parameters, queue_arguments

__all__ = ["DEFAULT_PUBLISH_TIMEOUT_MS", "RawRouter", "ResiduoRabbitmqBroker", "Unusable"]

DEFAULT_PUBLISH_TIMEOUT_MS: Final = 30_000

RawRouter = Callable[[bytes, Any], Message[Any]]
"""Turns a raw body into a message (raw ingress), given the message's pika properties
(None when there are none); it must not raise."""


@dataclass(frozen=True, slots=True)
class Unusable:
    """A delivery its queue cannot take as a message: dead-lettered as it came, with
    ``reason`` (``not_a_message``, ``wrong_queue``, ``processing_error``) and
    ``detail``."""

    reason: str
    detail: str


_FIRST_DELAY_MS: Final = 100
_MAX_DELAY_MS: Final = 5_000
_AMQP_ERRORS: Final = (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError)

# Raw bodies get a message id derived from the event they carry (the bytes its dead
# letter would hold): every redelivery of the same event has the same id in the logs.
_RAW_MESSAGE_NAMESPACE: Final = uuid.UUID("5b0f3c1e-8a57-4d1b-9e0c-2f6d4a9b7c31")

T = TypeVar("T")

_logger = structlog.get_logger(__name__)


class ResiduoRabbitmqBroker(RabbitmqBroker):
    """A ``RabbitmqBroker`` that confirms, retries and re-declares (see the module).

    Parameters:
      url: ``amqp://`` or ``amqps://``; several, separated by ``;``, for a cluster.
      middleware: the broker's middleware, in order.
      publish_timeout_ms: how long one publish keeps retrying a broker that is away.
      queue_type: ``classic`` or ``quorum``, for every queue this broker declares.
    """

    def __init__(
        self,
        *,
        url: str,
        middleware: Sequence[Middleware],
        publish_timeout_ms: int = DEFAULT_PUBLISH_TIMEOUT_MS,
        queue_type: QueueType = CLASSIC,
    ) -> None:
        read_unreadable_headers()
        super().__init__(url=url, confirm_delivery=True, middleware=list(middleware))
        self.queue_type = queue_type
        parameters = connection_parameters(url)
        self.parameters = parameters if len(parameters) > 1 else parameters[0]
        self.publish_timeout_ms = publish_timeout_ms
        self._bindings: dict[str, list[tuple[str, str]]] = {}
        self._routers: dict[str, RawRouter] = {}
        self.attachments = ConsumerAttachments()
        """Which queues this broker's consumers were last seen attached to."""

    @property
    def consumer_class(self) -> type[ResiduoConsumer]:
        return ResiduoConsumer

    def bind_exchange(self, queue_name: str, exchange: str, routing_key: str) -> None:
        """Bind durable topic ``exchange`` to ``queue_name`` whenever it is declared."""
        self._bindings.setdefault(queue_name, []).append((exchange, routing_key))
        self.queues_pending.add(queue_name)

    def accept_raw_bodies(self, queue_name: str, router: RawRouter) -> None:
        """Let ``queue_name`` receive bodies that are not Dramatiq messages: every body
        that comes through an exchange bound to it, and any other body that does not
        decode as a Dramatiq message."""
        self._routers[queue_name] = router

    def decode(
        self, queue_name: str, body: bytes, properties: Any = None, *, exchange: str = ""
    ) -> Message[Any] | Unusable:
        """The message for a body received on ``queue_name`` through ``exchange`` with
        pika ``properties``, or why the queue cannot take it (see the module)."""
        router = self._routers.get(queue_name)
        if router is not None and exchange in self._bound_exchanges(queue_name):
            return self._routed(router, queue_name, body, properties)
        try:
            message = Message.decode(body)
        except DecodeError:
            if router is None:
                return Unusable("not_a_message", f"{queue_name} takes Dramatiq messages only")
            return self._routed(router, queue_name, body, properties)
        return self._checked(queue_name, message)

    def _bound_exchanges(self, queue_name: str) -> set[str]:
        return {exchange for exchange, _ in self._bindings.get(queue_name, ())}

    def _routed(
        self, router: RawRouter, queue_name: str, body: bytes, properties: Any
    ) -> Message[Any] | Unusable:
        try:
            message = router(body, properties)
        except Exception as error:
            # A bug in routing: the body is set aside rather than crashing the
            # consumer, which would get it again, and again.
            _logger.exception("raw body not routed", queue=queue_name)
            return Unusable("processing_error", f"{type(error).__name__}: {error}")
        carried = body_bytes(message.args[0]) if message.args else body
        message_id = uuid.uuid5(_RAW_MESSAGE_NAMESPACE, hashlib.sha256(carried).hexdigest())
        return message.copy(message_id=str(message_id))

    def _checked(self, queue_name: str, message: Message[Any]) -> Message[Any] | Unusable:
        # Settled through the consumer of the queue it names, it would never be acked.
        if message.queue_name != queue_name:
            detail = f"a message for {message.queue_name} published to {queue_name}"
            return Unusable("wrong_queue", detail)
        actor = self.actors.get(message.actor_name)
        if actor is None:
            return Unusable("not_a_message", f"no actor is named {message.actor_name!r}")
        if actor.queue_name != q_name(queue_name):
            detail = (
                f"{message.actor_name} takes its messages from {actor.queue_name}, "
                f"not from {queue_name}"
            )
            return Unusable("wrong_queue", detail)
        if actor.options.get(INBOUND_EVENT_OPTION) and (len(message.args) != 1 or message.kwargs):
            detail = f"{message.actor_name} takes one inbound event, as its only argument"
            return Unusable("not_a_message", detail)
        return message

    def _declare_queue(self, queue_name: str) -> Any:
        declared = super()._declare_queue(queue_name)  # type: ignore[no-untyped-call]
        for exchange, routing_key in self._bindings.get(queue_name, ()):
            self.channel.exchange_declare(exchange, "topic", durable=True)
            self.channel.queue_bind(queue_name, exchange, routing_key)
        return declared

    def _build_queue_arguments(self, queue_name: str) -> dict[str, Any]:
        # Dramatiq builds the arguments of a work queue and of its delay queue here.
        arguments: dict[str, Any] = super()._build_queue_arguments(queue_name)  # type: ignore[no-untyped-call]
        return arguments | queue_arguments(self.queue_type)

    def _declare_xq_queue(self, queue_name: str) -> Any:
        return self.channel.queue_declare(
            queue=xq_name(queue_name), durable=True, arguments=queue_arguments(self.queue_type)
        )

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        """Dramatiq's confirmed enqueue, retried with backoff for ``publish_timeout_ms``."""
        enqueue = super().enqueue
        return self._retrying(lambda: enqueue(message, delay=delay))

    def publish(
        self, *, exchange: str, routing_key: str, body: bytes, properties: Any, queue_name: str
    ) -> None:
        """Publish ``body`` confirmed and ``mandatory``, retried like ``enqueue``.

        ``queue_name`` is the canonical queue the message must land in (or in its
        ``.XQ``): it is (re-)declared first, with its bindings, if it may be missing.
        """

        def attempt() -> None:
            self.declare_queue(queue_name, ensure=True)
            try:
                self.channel.basic_publish(
                    exchange=exchange,
                    routing_key=routing_key,
                    body=body,
                    properties=properties,
                    mandatory=True,
                )
            except _AMQP_ERRORS as error:
                del self.connection
                if isinstance(error, pika.exceptions.UnroutableError):
                    self.queues_pending.add(q_name(queue_name))
                raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]

        self._retrying(attempt)

    def _retrying(self, attempt: Callable[[], T]) -> T:
        deadline = Deadline.after_ms(self.publish_timeout_ms)
        for delay_ms in delays_ms(first_ms=_FIRST_DELAY_MS, max_ms=_MAX_DELAY_MS):
            try:
                self._refresh_idle_connection()
                return attempt()
            except ConnectionClosed as error:
                if not deadline.allows_ms(delay_ms):
                    raise
                _logger.warning("publish failed, retrying", error=str(error), delay_ms=delay_ms)
                sleep_ms(delay_ms)
        raise AssertionError("delays_ms is endless")

    def _refresh_idle_connection(self) -> None:
        """Let this thread's connection process what arrived while it sat idle
        (heartbeats, a close from the broker), and drop it if it is dead."""
        connection = getattr(self.state, "connection", None)
        if connection is None:
            return
        try:
            connection.process_data_events(time_limit=0)
        except _AMQP_ERRORS:
            del self.connection
