"""The relay's publisher: notifications to the ``residuo.notifications`` exchange.

One blocking pika connection with publisher confirms. ``publish`` returns once
RabbitMQ confirmed the message, which is persistent and ``mandatory``: a
notification no queue would take (the default queue deleted) is an error, never a
silent drop. The exchange, the default queue and its binding are declared on every
(re)connection, so a broker that lost them gets them back before the next publish;
an active relay connects as soon as it has nothing to publish, so the default queue
exists, and collects notifications, before the first one is published.
"""

from typing import Any, Final

import pika
import pika.exceptions
import structlog

from workers.rabbitmq.topology import (
    CLASSIC,
    NOTIFICATIONS_EXCHANGE,
    QueueType,
    connection_parameters,
    declare_notifications,
)
from workers.relay import PublishError

__all__ = ["RabbitmqPublisher"]

_PERSISTENT: Final = 2
_CONTENT_TYPE: Final = "application/json"
_APP_ID: Final = "residuo"
_ERRORS: Final = (pika.exceptions.AMQPError, OSError)

_logger = structlog.get_logger(__name__)


class RabbitmqPublisher:
    """Publishes notifications with confirms; reconnects lazily after a failure.

    Parameters:
      url: the broker's ``amqp://`` URL (``;``-separated for a cluster).
      queue_type: the type the default notifications queue is declared with.
    """

    def __init__(self, url: str, *, queue_type: QueueType = CLASSIC) -> None:
        self._parameters = connection_parameters(url)
        self._queue_type = queue_type
        self._connection: Any = None
        self._channel: Any = None

    def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        """Publish one notification; return once confirmed, else raise ``PublishError``."""
        properties = pika.BasicProperties(
            delivery_mode=_PERSISTENT,
            content_type=_CONTENT_TYPE,
            message_id=message_id,
            type=routing_key,
            app_id=_APP_ID,
        )
        try:
            self._open().basic_publish(
                NOTIFICATIONS_EXCHANGE, routing_key, body, properties, mandatory=True
            )
        except _ERRORS as error:
            self.close()
            raise PublishError(f"notification {message_id} not confirmed: {error!r}") from error

    def keepalive(self) -> None:
        """Connect (declaring the topology) if need be, and answer heartbeats while
        idle; raise ``PublishError`` if the broker cannot be reached."""
        try:
            self._open().connection.process_data_events(time_limit=0)
        except _ERRORS as error:
            self.close()
            raise PublishError(f"RabbitMQ unreachable: {error!r}") from error

    def close(self) -> None:
        """Close the connection, if any; the next publish opens a new one."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except _ERRORS as error:
                _logger.debug("closing a broken connection", error=repr(error))

    def _open(self) -> Any:
        if self._channel is None:
            connection = pika.BlockingConnection(self._parameters)
            try:
                channel = connection.channel()
                channel.confirm_delivery()
                declare_notifications(channel, self._queue_type)
            except BaseException:
                connection.close()
                raise
            self._connection, self._channel = connection, channel
            _logger.info("connected to RabbitMQ for notifications")
        return self._channel
