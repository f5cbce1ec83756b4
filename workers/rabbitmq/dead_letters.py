"""Dead letters: what goes into a ``.XQ`` queue, and how ops read it back.

A dead letter keeps its message and says why in ``x-residuo-*`` headers, visible in
any AMQP tool (the management UI included):

=============================  ===================================================
``x-residuo-reason``           ``bad_json``, ``bad_headers``, ``bad_schema``, … (an
                               invalid event), ``processing_error``,
                               ``retries_exhausted``,
                               ``retry_not_enqueued``, ``not_retryable``,
                               ``not_a_message``, ``wrong_queue`` or ``failed``
``x-residuo-detail``           the rejection's detail, or the last error
``x-residuo-queue``            the queue the message was consumed from
``x-residuo-actor``            the actor it was for, when known
``x-residuo-event-id``/``-type``  the inbound event's, when it had them
``x-residuo-retries``          how many times it had been retried
``x-residuo-dead-lettered-at`` when (UTC, ISO 8601)
``x-residuo-dead-letter-id``   the id ``residuo dead-letters`` and ``event.rejected``
                               know it by: ``sha256:<hex>`` of the body, or the
                               Dramatiq message id
=============================  ===================================================

Header values are text a broker will take whatever the message carried: a character
that is not Unicode (a lone surrogate, from a JSON ``\\ud800`` escape) is written as
its backslash escape, since pika cannot encode it and the dead letter would never
be published.

An inbound event is dead-lettered as the CloudEvent itself (canonical JSON, or the
exact bytes of a body that was not a JSON object), so a replay goes back through
raw ingress, and its SHA-256 is the ``rejected_events`` key of the same body. Any
other message is kept as the Dramatiq message it was.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import pika
from dramatiq.broker import MessageProxy

from messages import body_id
from workers.middleware import DEAD_LETTER_OPTION, INBOUND_EVENT_OPTION, body_bytes

if TYPE_CHECKING:
    from dramatiq import Broker

__all__ = [
    "ACTOR_HEADER",
    "DEAD_LETTERED_AT_HEADER",
    "DEAD_LETTER_ID_HEADER",
    "DETAIL_HEADER",
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "QUEUE_HEADER",
    "REASON_HEADER",
    "RETRIES_HEADER",
    "dead_letter_of",
    "unusable_body",
]

REASON_HEADER: Final = "x-residuo-reason"
DETAIL_HEADER: Final = "x-residuo-detail"
QUEUE_HEADER: Final = "x-residuo-queue"
ACTOR_HEADER: Final = "x-residuo-actor"
EVENT_ID_HEADER: Final = "x-residuo-event-id"
EVENT_TYPE_HEADER: Final = "x-residuo-event-type"
RETRIES_HEADER: Final = "x-residuo-retries"
DEAD_LETTERED_AT_HEADER: Final = "x-residuo-dead-lettered-at"
DEAD_LETTER_ID_HEADER: Final = "x-residuo-dead-letter-id"

_JSON: Final = "application/json"
_MAX_DETAIL_CHARS: Final = 2_000
_PERSISTENT: Final = 2


def dead_letter_of(broker: "Broker", message: MessageProxy) -> tuple[bytes, Any]:
    """The body and the pika properties of ``message``'s dead letter."""
    reason, detail = _why(message)
    actor = broker.actors.get(message.actor_name)
    inbound = actor is not None and actor.options.get(INBOUND_EVENT_OPTION) and message.args
    headers: dict[str, Any] = {
        REASON_HEADER: _printable(reason),
        DETAIL_HEADER: _printable(detail[:_MAX_DETAIL_CHARS]),
        QUEUE_HEADER: message.queue_name,
        ACTOR_HEADER: _printable(message.actor_name),
        RETRIES_HEADER: message.options.get("retries", 0),
        DEAD_LETTERED_AT_HEADER: datetime.now(UTC).isoformat(),
    }
    if not inbound:
        headers[DEAD_LETTER_ID_HEADER] = message.message_id
        return message.encode(), _properties(message.message_id, _JSON, headers)
    event = message.args[0]
    body = body_bytes(event)
    headers[DEAD_LETTER_ID_HEADER] = body_id(body)
    rejection = message.options.get("rejection") or {}
    event_id = rejection.get("event_id") or _string_field(event, "id")
    event_type = rejection.get("event_type") or _string_field(event, "type")
    if event_id is not None:
        headers[EVENT_ID_HEADER] = _printable(event_id)
    if event_type is not None:
        headers[EVENT_TYPE_HEADER] = _printable(event_type)
    content_type = _JSON if isinstance(event, Mapping) else None
    return body, _properties(message.message_id, content_type, headers)


def unusable_body(queue_name: str, body: bytes, reason: str, detail: str) -> Any:
    """Properties for a ``body`` a queue could not take as a message (see ``consumer``)."""
    headers = {
        REASON_HEADER: _printable(reason),
        DETAIL_HEADER: _printable(detail),
        QUEUE_HEADER: queue_name,
        RETRIES_HEADER: 0,
        DEAD_LETTERED_AT_HEADER: datetime.now(UTC).isoformat(),
        DEAD_LETTER_ID_HEADER: body_id(body),
    }
    return _properties(None, None, headers)


def _why(message: MessageProxy) -> tuple[str, str]:
    for option in ("rejection", DEAD_LETTER_OPTION):
        recorded = message.options.get(option)
        if recorded is not None:
            return str(recorded["reason"]), str(recorded["detail"])
    error = message._exception
    if error is None:
        return "failed", "failed without an error (see the worker log)"
    return "failed", f"{type(error).__name__}: {error}"


def _printable(text: str) -> str:
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _string_field(event: object, name: str) -> str | None:
    value = event.get(name) if isinstance(event, Mapping) else None
    return value if isinstance(value, str) else None


def _properties(message_id: str | None, content_type: str | None, headers: dict[str, Any]) -> Any:
    return pika.BasicProperties(
        delivery_mode=_PERSISTENT,
        message_id=message_id,
        content_type=content_type,
        headers=headers,
    )
