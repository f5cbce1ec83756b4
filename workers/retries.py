"""Retries by the kind of failure, and never a message lost for want of a retry."""

from typing import Any

import structlog
from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.common import compute_backoff
from dramatiq.middleware import Retries

from workers.failures import Failure, classify
from workers.middleware import (
    DEAD_LETTER_OPTION,
    INBOUND_EVENT_OPTION,
    PROCESSING_ERRORS_OPTION,
    REPORT_ATTEMPTS_OPTION,
    TELL_OPS_OPTION,
)

__all__ = ["DurableRetries"]

_logger = structlog.get_logger(__name__)


class DurableRetries(Retries):
    """Retries by the kind of failure (``workers.failures``), and never a message lost
    for want of a retry.

    * A transient fault is retried with exponential backoff, ``max_retries`` times,
      then given up as ``retries_exhausted``.
    * An invalid message (or an actor's ``throws``) is dead-lettered at once,
      ``not_retryable``.
    * Anything else is retried ``max_processing_retries`` times, then given up as
      ``processing_error``, with the exception's type and message.

    An inbound event given up on is not dead-lettered here: it is enqueued once more,
    marked ``TELL_OPS_OPTION``, so that ``RejectInvalidEvents`` reports it
    (``event.rejected`` and a ``rejected_events`` row) before anything else runs and
    then dead-letters it. That report cannot be written from here: Dramatiq swallows
    any exception of an ``after_*`` hook, so a report failing here would be lost, and
    the database is often what failed. A report that fails is tried again, with
    backoff, ``max_retries`` times; only then is the event dead-lettered untold.

    Dramatiq's ``Retries`` enqueues the retry copy from this same hook: when that
    enqueue fails (the broker is away for longer than a publish may wait), the
    original is acked as if it had succeeded, and the message is gone (the
    discussion on Dramatiq PR #545). Here the original is failed instead, so the
    broker dead-letters it as ``retry_not_enqueued``. Every reason is left in
    ``message.options[DEAD_LETTER_OPTION]``. If the broker cannot take the dead letter
    either, the message stays unacknowledged and is delivered again.

    Parameters: Dramatiq's ``max_retries``, ``min_backoff`` and ``max_backoff``
    (milliseconds), and ``max_processing_retries``.
    """

    def __init__(
        self,
        *,
        max_retries: int = 20,
        min_backoff: int | None = None,
        max_backoff: int | None = None,
        max_processing_retries: int = 2,
    ) -> None:
        super().__init__(max_retries=max_retries, min_backoff=min_backoff, max_backoff=max_backoff)
        self.max_processing_retries = max_processing_retries

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None:
            return
        if message.options.get(TELL_OPS_OPTION):
            self._report_not_written(broker, message, exception)
            return
        actor = broker.get_actor(message.actor_name)
        failure = classify(exception)
        throws = message.options.get("throws") or actor.options.get("throws")
        if failure is Failure.INVALID or (throws and isinstance(exception, throws)):
            _dead_letter(message, "not_retryable", _one_line(exception))
            return
        retries = message.options.get("retries", 0)
        message.options["retries"] = retries + 1
        if failure is Failure.PROCESSING:
            errors = message.options.get(PROCESSING_ERRORS_OPTION, 0) + 1
            message.options[PROCESSING_ERRORS_OPTION] = errors
            exhausted, reason = errors > self.max_processing_retries, "processing_error"
        else:
            exhausted, reason = retries >= self.max_retries, "retries_exhausted"
        if not exhausted:
            self._enqueue(broker, message, exception, delay=self._backoff(retries))
            return
        if not actor.options.get(INBOUND_EVENT_OPTION):
            _dead_letter(message, reason, _one_line(exception))
            return
        message.options[DEAD_LETTER_OPTION] = {"reason": reason, "detail": _one_line(exception)}
        message.options[TELL_OPS_OPTION] = True
        self._enqueue(broker, message, exception, delay=None)

    def _report_not_written(
        self, broker: Broker, message: MessageProxy, exception: BaseException
    ) -> None:
        attempts = message.options.get(REPORT_ATTEMPTS_OPTION, 0) + 1
        message.options[REPORT_ATTEMPTS_OPTION] = attempts
        if attempts <= self.max_retries:
            self._enqueue(broker, message, exception, delay=self._backoff(attempts - 1))
            return
        dead_letter = message.options[DEAD_LETTER_OPTION]
        del message.options[TELL_OPS_OPTION]
        _logger.error(
            "ops could not be told, dead-lettering the message",
            message_id=message.message_id,
            error=_one_line(exception),
        )
        _dead_letter(
            message,
            dead_letter["reason"],
            f"{dead_letter['detail']} (ops could not be told: {_one_line(exception)})",
        )

    def _backoff(self, retries: int) -> int:
        _, delay = compute_backoff(retries, factor=self.min_backoff, max_backoff=self.max_backoff)
        return delay

    def _enqueue(
        self, broker: Broker, message: MessageProxy, exception: BaseException, *, delay: int | None
    ) -> None:
        """Enqueue ``message`` again; if the broker will not take it, dead-letter it."""
        try:
            # A copy of the Message behind the proxy, options (retries, reasons) included.
            broker.enqueue(message.copy(), delay=delay)
        except Exception as error:
            _logger.error(
                "retry not enqueued, dead-lettering the message",
                message_id=message.message_id,
                error=str(error),
            )
            _dead_letter(
                message,
                "retry_not_enqueued",
                f"{_one_line(exception)} (then the retry failed: {_one_line(error)})",
            )


def _dead_letter(message: MessageProxy, reason: str, detail: str) -> None:
    message.options[DEAD_LETTER_OPTION] = {"reason": reason, "detail": detail}
    message.fail()


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
