"""Middleware that keeps the actors thin: log context, invalid events, retries.

Each is one small class with one concern, configured with keyword-only arguments,
in the manner of Dramatiq's own ``AgeLimit``.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

import structlog
from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Retries

from ledger.service import Ledger
from messages import InboundBounds, InvalidEvent, parse_inbound
from workers.errors import RejectedEventError, RejectionNotRecordedError

__all__ = [
    "DEAD_LETTER_OPTION",
    "INBOUND_EVENT_OPTION",
    "BindLogContext",
    "DurableRetries",
    "RejectInvalidEvents",
    "body_bytes",
]

INBOUND_EVENT_OPTION: Final = "inbound_event"
"""Actor option marking actors whose first argument is an inbound CloudEvent."""

DEAD_LETTER_OPTION: Final = "dead_letter"
"""Message option ``{"reason": …, "detail": …}``: why ``DurableRetries`` gave up on it."""

_UNWRITABLE_BODY: Final = b'"(a body no JSON encoder can write back)"'

_logger = structlog.get_logger(__name__)


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
    """Bind the actor, the message id and the event id to every log line of a message."""

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
        context: dict[str, Any] = {"actor": message.actor_name, "message_id": message.message_id}
        first = message.args[0] if message.args else None
        if isinstance(first, Mapping) and isinstance(first.get("id"), str):
            context["event_id"] = first["id"]
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
    """Dead-letter an inbound event that can never be valid, after telling ops.

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
        try:
            self.bounds.check_size(raw)
            self.bounds.check_times(parse_inbound(body, currency=self.ledger.policy.currency))
        except InvalidEvent as invalid:
            self._report(self._kept(raw), invalid)
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

    def _report(self, body: bytes, invalid: InvalidEvent) -> None:
        try:
            first_report = self.ledger.reject(
                body,
                reason=invalid.reason,
                detail=invalid.detail,
                event_id=invalid.event_id,
                event_type=invalid.event_type,
            )
        except Exception as error:
            raise RejectionNotRecordedError(f"could not report {invalid}: {error}") from error
        _logger.info(
            "event rejected",
            reason=invalid.reason,
            detail=invalid.detail,
            rejected_event_id=invalid.event_id,
            first_report=first_report,
        )


class DurableRetries(Retries):
    """Dramatiq's ``Retries``, except that a message is never lost for want of a retry.

    ``Retries`` enqueues the retry copy from an ``after_process_message`` hook, where
    Dramatiq swallows any exception: when that enqueue fails (the broker is away for
    longer than a publish may wait), the original is acked as if it had succeeded,
    and the message is gone (the discussion on Dramatiq PR #545). Here the original
    is failed instead, so the broker dead-letters it, and the reason says why:
    ``retry_not_enqueued``, ``retries_exhausted`` or ``not_retryable``, in
    ``message.options[DEAD_LETTER_OPTION]``. If the broker cannot take the dead
    letter either, the message stays unacknowledged and is delivered again.
    """

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
        try:
            super().after_process_message(  # type: ignore[no-untyped-call]
                broker, message, result=result, exception=exception
            )
        except Exception as error:
            _logger.error(
                "retry not enqueued, dead-lettering the message",
                message_id=message.message_id,
                error=str(error),
            )
            message.options[DEAD_LETTER_OPTION] = {
                "reason": "retry_not_enqueued",
                "detail": f"{_one_line(exception)} (then the retry failed: {_one_line(error)})",
            }
            message.fail()
            return
        if message.failed:
            actor = broker.get_actor(message.actor_name)
            throws = message.options.get("throws") or actor.options.get("throws")
            retried = not (throws and isinstance(exception, throws))
            message.options[DEAD_LETTER_OPTION] = {
                "reason": "retries_exhausted" if retried else "not_retryable",
                "detail": _one_line(exception),
            }


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
