"""Dramatiq's RabbitMQ consumer, made to settle every message it received, and only those.

Three changes to Dramatiq's ``_RabbitmqConsumer``, and each delivery or idle wait
marks the queue attached in the broker's ``attachments`` (the worker's readiness):

* **Raw bodies.** A body that is not a Dramatiq message, or that came through an
  exchange bound to the queue (where upstream publishes), is handed to the queue's
  router (``ResiduoRabbitmqBroker.accept_raw_bodies``) instead of being nacked
  silently into the dead-letter queue; on a queue without a router it is
  dead-lettered with the reason ``not_a_message``, and a Dramatiq message naming
  another queue, or an actor of another queue, with ``wrong_queue``
  (``ResiduoRabbitmqBroker.decode`` decides).
* **Dead letters with a reason.** ``nack`` publishes the message to the queue's
  ``.XQ`` itself, confirmed, with ``x-residuo-*`` headers saying why
  (``dead_letters.dead_letter_of``), and only then acks the original. A plain
  ``basic_nack`` would dead-letter it too, but without a word of why.
* **Settled on its own channel.** Delivery tags are numbered per channel, so after
  a reconnect Dramatiq would ack a message received on the dead channel with a tag
  the new channel gave to another message: that other message would be acked
  unprocessed, and lost if the worker then died. Here a message is settled only by
  the consumer that received it; any other is left to RabbitMQ, which redelivers
  everything unacknowledged on a closed channel.
"""

from typing import TYPE_CHECKING, Any

import pika.exceptions
import structlog
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.rabbitmq import _RabbitmqConsumer
from dramatiq.common import q_name, xq_name
from dramatiq.errors import ConnectionClosed

from messages import body_id
from workers.rabbitmq.dead_letters import (
    DEAD_LETTER_ID_HEADER,
    DETAIL_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    REASON_HEADER,
    dead_letter_of,
    unusable_body,
)

if TYPE_CHECKING:
    from workers.rabbitmq.broker import ResiduoRabbitmqBroker

__all__ = ["Delivery", "ResiduoConsumer"]

_logger = structlog.get_logger(__name__)


class Delivery(MessageProxy):
    """A received message, with the consumer and delivery tag that can settle it."""

    def __init__(
        self, message: Message[Any], *, tag: int, redelivered: bool, consumer: "ResiduoConsumer"
    ) -> None:
        super().__init__(message)
        self._tag = tag
        self.redelivered = redelivered
        self.consumer = consumer


class ResiduoConsumer(_RabbitmqConsumer):
    """The consumer of one queue on one channel (see the module)."""

    broker: "ResiduoRabbitmqBroker"
    queue_name: str

    def __next__(self) -> Delivery | None:
        try:
            method, properties, body = next(self.iterator)
        except (
            AssertionError,
            pika.exceptions.AMQPConnectionError,
            pika.exceptions.AMQPChannelError,
        ) as error:
            if getattr(error, "reply_code", None) == 404:
                self.broker.queues_pending.add(q_name(self.queue_name))
            raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]
        # RabbitMQ let this consumer consume: a delivery, or an idle wait on its channel.
        self.broker.attachments.seen(self.queue_name)
        if method is None:
            return None
        message = self.broker.decode(self.queue_name, body, properties, exchange=method.exchange)
        if not isinstance(message, Message):
            self._dead_letter_body(method.delivery_tag, body, message.reason, message.detail)
            return None
        self.known_tags.add(method.delivery_tag)
        return Delivery(
            message, tag=method.delivery_tag, redelivered=method.redelivered, consumer=self
        )

    def ack(self, message: MessageProxy) -> None:
        if self._received(message):
            super().ack(message)  # type: ignore[no-untyped-call]

    def nack(self, message: MessageProxy) -> None:
        """Dead-letter ``message`` with its reason, then ack the original.

        Raises ``ConnectionClosed`` if the dead letter could not be published: the
        worker calls again a few seconds later. If this consumer's own connection is
        gone meanwhile, nothing is published: RabbitMQ redelivers the original.
        """
        if not self._received(message) or not self.connection.is_open:
            return
        body, properties = dead_letter_of(self.broker, message)
        self.broker.publish(
            exchange="",
            routing_key=xq_name(self.queue_name),
            body=body,
            properties=properties,
            queue_name=q_name(self.queue_name),
        )
        headers = properties.headers
        _logger.warning(
            "message dead-lettered",
            message_id=message.message_id,
            queue=xq_name(self.queue_name),
            reason=headers.get(REASON_HEADER),
            detail=headers.get(DETAIL_HEADER),
            event_id=headers.get(EVENT_ID_HEADER),
            event_type=headers.get(EVENT_TYPE_HEADER),
            dead_letter_id=headers.get(DEAD_LETTER_ID_HEADER),
        )
        super().ack(message)  # type: ignore[no-untyped-call]

    def _received(self, message: MessageProxy) -> bool:
        if getattr(message, "consumer", None) is self and message._tag in self.known_tags:
            return True
        _logger.warning(
            "message received on a closed channel left to RabbitMQ to redeliver",
            message_id=message.message_id,
        )
        return False

    def _dead_letter_body(self, tag: int, body: bytes, reason: str, detail: str) -> None:
        # Runs on the consumer's own thread, which may use its channel directly.
        self.broker.publish(
            exchange="",
            routing_key=xq_name(self.queue_name),
            body=body,
            properties=unusable_body(self.queue_name, body, reason, detail),
            queue_name=q_name(self.queue_name),
        )
        _logger.warning(
            "unusable body dead-lettered",
            queue=self.queue_name,
            reason=reason,
            detail=detail,
            dead_letter_id=body_id(body),
        )
        self.channel.basic_ack(tag)
