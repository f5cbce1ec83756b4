"""Middleware that keeps the actors thin: log context, invalid events, retries.

Each is one small class with one concern, configured with keyword-only arguments,
in the manner of Dramatiq's own ``AgeLimit``.
"""

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final

import structlog
from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy
from dramatiq.common import compute_backoff
from dramatiq.middleware import Retries

from ledger.service import Ledger
from messages import InboundBounds, InvalidEvent, parse_inbound
from workers.errors import DeadLetteredError, RejectedEventError, RejectionNotRecordedError
from workers.failures import Failure, classify

__all__ = [
    "DEAD_LETTER_OPTION",
    "INBOUND_EVENT_OPTION",
    "PROCESSING_ERRORS_OPTION",
    "REPORT_ATTEMPTS_OPTION",
    "TELL_OPS_OPTION",
    "TRACEPARENT",
    "BindLogContext",
    "DurableRetries",
    "RejectInvalidEvents",
    "body_bytes",
    "traceparent_of",
]

INBOUND_EVENT_OPTION: Final = "inbound_event"
"""Actor option marking actors whose first argument is an inbound CloudEvent."""

DEAD_LETTER_OPTION: Final = "dead_letter"
"""Message option ``{"reason": …, "detail": …}``: why ``DurableRetries`` gave up on it."""

TELL_OPS_OPTION: Final = "tell_ops"
"""Message option: an inbound event given up on, enqueued again to be reported to ops
(``RejectInvalidEvents``) and then dead-lettered."""

PROCESSING_ERRORS_OPTION: Final = "processing_errors"
"""Message option: how many of its failures were processing errors."""

REPORT_ATTEMPTS_OPTION: Final = "report_attempts"
"""Message option: how many times telling ops of it has failed."""

_UNWRITABLE_BODY: Final = b'"(a body no JSON encoder can write back)"'

TRACEPARENT: Final = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
"""A W3C Trace Context ``traceparent``: version, trace id, parent id, flags."""

_logger = structlog.get_logger(__name__)


def traceparent_of(event: Mapping[str, Any]) -> str | None:
    """The event's ``traceparent`` extension if it has the W3C shape (`TRACEPARENT`)."""
    traceparent = event.get("traceparent")
    if isinstance(traceparent, str) and TRACEPARENT.fullmatch(traceparent):
        return traceparent
    return None


def body_bytes(body: Mapping[str, Any] | str) -> bytes:
    """The bytes an inbound body is reported and deduplicated under.

    A text body is what ingress could not route, kept byte for byte (undecodable
    bytes travel as surrogate escapes); a decoded object is written back as
    canonical JSON, so the same event is reported once whatever its whitespace.
    Never raises: an object no encoder can write (nested past the recursion limit,
    in a Dramatiq message published by hand) is represented by a placeholder.
    """
    if isinstance(body, str):
        try:
            return body.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError:
            # A surrogate no bytes decode to (a JSON ``\\ud800`` in a Dramatiq
            # message's text argument): kept as its escape, never an error.
            return body.encode("utf-8", errors="backslashreplace")
    try:
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    except Exception:
        return _UNWRITABLE_BODY


class BindLogContext(Middleware):
    """Bind the actor, the message id, the event id, the event's customer and its W3C
    ``traceparent`` (a CloudEvents extension) to every log line of a message (the
    customer id is written as its pseudonym, and so is any mention of it in the line:
    ``residuo.log_privacy``).

    A ``traceparent`` that is not of the W3C shape is left out of the log context (it
    is still kept with the event): log lines carry only what a tracer can join on.
    """

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
        context: dict[str, Any] = {"actor": message.actor_name, "message_id": message.message_id}
        first = message.args[0] if message.args else None
        if isinstance(first, Mapping):
            if isinstance(first.get("id"), str):
                context["event_id"] = first["id"]
            data = first.get("data")
            if isinstance(data, Mapping) and isinstance(data.get("customer_id"), str):
                context["customer_id"] = data["customer_id"]
            traceparent = traceparent_of(first)
            if traceparent is not None:
                context["traceparent"] = traceparent
        structlog.contextvars.bind_contextvars(**context)

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        structlog.contextvars.clear_contextvars()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()


class RejectInvalidEvents(Middleware):
    """Dead-letter an inbound event that can never be valid, after telling ops; and
    tell ops of every other inbound event given up on (``DurableRetries``).

    Invalid means: over the size limit, not a valid event (``parse_inbound``), or with
    an instant outside the plausible window (``messages.InboundBounds``). That is
    final (the same bytes fail the same way every time), so it is never retried:
    ``ledger.reject`` commits ``event.rejected`` (once per body), then the message is
    failed and skipped, as ``AgeLimit`` does, and the broker dead-letters it; the
    reason is left in ``message.options["rejection"]`` for whoever inspects dead
    letters in this process.

    This runs before the actor rather than after it because Dramatiq swallows
    exceptions raised in ``after_*`` hooks: a report that fails there would leave a
    dead letter that ops were never told about. Here the failure is raised as
    ``RejectionNotRecordedError``, and ``Retries`` tries the whole message again later.

    A message marked ``TELL_OPS_OPTION`` is a valid event ``DurableRetries`` gave up
    on (``retries_exhausted``, ``processing_error``): it is reported the same way,
    with that reason and the last error, then dead-lettered (``DeadLetteredError``).

    Parameters:
      ledger: where rejections are reported; its policy's currency is the only one
        inbound amounts may be in.
      bounds: the size and time window an event must fit (the settings').
    """

    def __init__(self, *, ledger: Ledger, bounds: InboundBounds | None = None) -> None:
        self.ledger = ledger
        self.bounds = bounds or InboundBounds()

    @property
    def actor_options(self) -> set[str]:
        return {INBOUND_EVENT_OPTION}

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        actor = broker.get_actor(message.actor_name)
        if not actor.options.get(INBOUND_EVENT_OPTION) or not message.args:
            return
        body = message.args[0]
        raw = body_bytes(body)
        if message.options.get(TELL_OPS_OPTION):
            self._tell_ops_and_dead_letter(message, body, raw)
        try:
            self.bounds.check_size(raw)
            self.bounds.check_times(parse_inbound(body, currency=self.ledger.policy.currency))
        except InvalidEvent as invalid:
            self._report(
                self._kept(raw),
                invalid.reason,
                invalid.detail,
                event_id=invalid.event_id,
                event_type=invalid.event_type,
            )
            message.options["rejection"] = {
                "reason": invalid.reason,
                "detail": invalid.detail,
                "event_id": invalid.event_id,
                "event_type": invalid.event_type,
            }
            message.fail()
            raise RejectedEventError(invalid) from invalid

    def _kept(self, raw: bytes) -> bytes:
        """What the books keep of a refused body: all of it, unless it is over the size
        limit; then its first ``max_body_bytes``, and the digest of the whole, which
        keeps distinct bodies distinct (the dead letter keeps every byte)."""
        if len(raw) <= self.bounds.max_body_bytes:
            return raw
        digest = hashlib.sha256(raw).hexdigest()
        return (
            raw[: self.bounds.max_body_bytes]
            + (
                f"\n... cut at {self.bounds.max_body_bytes} of {len(raw)} bytes; "
                f"sha256 of the whole body: {digest}"
            ).encode()
        )

    def _tell_ops_and_dead_letter(
        self, message: MessageProxy, body: Mapping[str, Any] | str, raw: bytes
    ) -> None:
        dead_letter = message.options[DEAD_LETTER_OPTION]
        reason, detail = dead_letter["reason"], dead_letter["detail"]
        self._report(
            self._kept(raw),
            reason,
            detail,
            event_id=_header(body, "id"),
            event_type=_header(body, "type"),
        )
        del message.options[TELL_OPS_OPTION]
        message.fail()
        raise DeadLetteredError(f"{reason}: {detail}")

    def _report(
        self,
        body: bytes,
        reason: str,
        detail: str,
        *,
        event_id: str | None,
        event_type: str | None,
    ) -> None:
        try:
            first_report = self.ledger.reject(
                body, reason=reason, detail=detail, event_id=event_id, event_type=event_type
            )
        except Exception as error:
            raise RejectionNotRecordedError(
                f"could not report {reason}: {detail}: {error}"
            ) from error
        _logger.info(
            "event rejected",
            reason=reason,
            detail=detail,
            rejected_event_id=event_id,
            first_report=first_report,
        )


def _header(body: Mapping[str, Any] | str, name: str) -> str | None:
    value = body.get(name) if isinstance(body, Mapping) else None
    return value if isinstance(value, str) else None


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
