"""One log line per state change of an inbound event, each naming the event's id.

An event's life, as ``grep evt-0001`` shows it in a worker's log:

==========================  ====================================================
``event received``          a worker took the message (``retries``: how many times
                            it had been retried before; ``redelivered`` on RabbitMQ)
``event rejected``          it can never be valid (``RejectInvalidEvents``)
``event applied``           the books changed (``Ledger.record``)
``event parked``            an activation waits for its order's payment
``event refused``           applied nothing but a refusal: ``reason``, ``detail``
``event duplicate``         its id was applied before: nothing changed
``event id conflict``       its id was used before for another body: not applied,
                            ops told (``reason`` ``id_conflict``)
``parked event applied``    a payment let a parked event apply (or ``parked event
                            refused``): ``event_id`` is the parked event's,
                            ``applied_with`` the payment's
``event retried``           failed, sent again later (``workers.failures``)
``event given up``          retries exhausted, or a processing error: sent once more
                            to tell ops (``reason``, ``detail``), then dead-lettered
``message dead-lettered``   given up: logged where it happens, by the RabbitMQ
                            consumer (``workers.rabbitmq.consumer``)
==========================  ====================================================

Lines are logged with the event's fields given explicitly rather than from the log
context: ``LogEventLifecycle`` runs outermost, before ``BindLogContext`` binds the
context and after it has cleared it.
"""

from collections.abc import Mapping
from typing import Any, Final

import structlog
from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy

from ledger.service import EventRecorded, Recorded, Recording
from workers.middleware import (
    DEAD_LETTER_OPTION,
    INBOUND_EVENT_OPTION,
    TELL_OPS_OPTION,
    traceparent_of,
)

__all__ = ["LogEventLifecycle", "inbound_event_fields", "log_recording"]

_OUTCOME_LINES: Final = {
    Recorded.APPLIED: "event applied",
    Recorded.PARKED: "event parked",
    Recorded.REFUSED: "event refused",
    Recorded.DUPLICATE: "event duplicate",
    Recorded.CONFLICT: "event id conflict",
}

_logger = structlog.get_logger(__name__)


def log_recording(recording: Recording) -> None:
    """Log what ``Ledger.record`` did: the event's line, then one for each parked
    event it let apply. Call it once the transaction committed."""
    event = recording.event
    _logger.info(_OUTCOME_LINES[event.outcome], **_outcome_fields(event))
    for parked in recording.unparked:
        _logger.info(
            f"parked event {parked.outcome.value}",
            applied_with=event.event_id,
            **_outcome_fields(parked),
        )


def _outcome_fields(recorded: EventRecorded) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": recorded.event_id,
        "event_type": recorded.event_type,
        "outcome": recorded.outcome.value,
    }
    if recorded.reason is not None:
        fields["reason"] = recorded.reason
    if recorded.detail is not None:
        fields["detail"] = recorded.detail
    return fields


def inbound_event_fields(broker: Broker, message: MessageProxy) -> dict[str, str] | None:
    """``event_id`` and ``event_type`` of the inbound event ``message`` carries, as far
    as they can be read (an unroutable body has neither), and its W3C ``traceparent``
    if it has one; None if it carries none."""
    actor = broker.actors.get(message.actor_name)
    if actor is None or not actor.options.get(INBOUND_EVENT_OPTION) or not message.args:
        return None
    body = message.args[0]
    if not isinstance(body, Mapping):
        return {}
    fields = {name: body[key] for name, key in _EVENT_KEYS if isinstance(body.get(key), str)}
    traceparent = traceparent_of(body)
    if traceparent is not None:
        fields["traceparent"] = traceparent
    return fields


_EVENT_KEYS: Final = (("event_id", "id"), ("event_type", "type"))


class LogEventLifecycle(Middleware):
    """Log when an inbound event is received and when it is retried.

    Install it outermost (``create_broker(outermost=…)``): its ``before`` hook then
    runs first, and its ``after`` hook last, once ``Retries`` has decided whether the
    message failed for good or was sent again.
    """

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        fields = inbound_event_fields(broker, message)
        if fields is None:
            return
        redelivered = getattr(message, "redelivered", None)
        if redelivered is not None:
            fields["redelivered"] = redelivered
        _logger.info(
            "event received",
            message_id=message.message_id,
            actor=message.actor_name,
            retries=message.options.get("retries", 0),
            **fields,
        )

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or message.failed:
            return
        fields = inbound_event_fields(broker, message)
        if message.options.get(TELL_OPS_OPTION):
            given_up = message.options[DEAD_LETTER_OPTION]
            _logger.warning(
                "event given up",
                message_id=message.message_id,
                actor=message.actor_name,
                retries=message.options.get("retries", 0),
                reason=given_up["reason"],
                detail=given_up["detail"],
                **(fields or {}),
            )
            return
        _logger.warning(
            "message retried" if fields is None else "event retried",
            message_id=message.message_id,
            actor=message.actor_name,
            retries=message.options.get("retries", 0),
            error=_first_line(exception),
            **(fields or {}),
        )


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
