"""Middleware that keeps the actors thin: log context, invalid events (retries are
``workers.retries``), and the message options they share.

Each is one small class with one concern, configured with keyword-only arguments,
in the manner of Dramatiq's own ``AgeLimit``.
"""

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final, cast

import structlog
from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy

from ledger.service import Ledger
from messages import InboundBounds, InvalidEvent, RejectionReason, body_id, parse_inbound
from workers.errors import DeadLetteredError, RejectedEventError, RejectionNotRecordedError

__all__ = [
    "DEAD_LETTER_OPTION",
    "INBOUND_EVENT_OPTION",
    "PROCESSING_ERRORS_OPTION",
    "REFUSED_AT_INGRESS_OPTION",
    "REPORT_ATTEMPTS_OPTION",
    "TELL_OPS_OPTION",
    "TRACEPARENT",
    "BindLogContext",
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

REFUSED_AT_INGRESS_OPTION: Final = "refused_at_ingress"
"""Message option ``{"reason": …, "detail": …}``: ingress judged the message it received
invalid before reading it as an event (over the size limit, headers nobody can read,
binary-mode attributes that are not text; ``workers.ingress.route``)."""

_UNWRITABLE_BODY: Final = b'"(a body no JSON encoder can write back)"'

TRACEPARENT: Final = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<parent_id>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<more>-.*)?"
)
"""The shape of a W3C Trace Context ``traceparent``: version, trace id, parent id,
flags, and what a later version may add after them."""

_INVALID_VERSION: Final = "ff"
_FIRST_VERSION: Final = "00"

_logger = structlog.get_logger(__name__)


def traceparent_of(event: Mapping[str, Any]) -> str | None:
    """The event's ``traceparent`` extension if W3C Trace Context (Level 1, §3.2)
    deems it valid: of its shape (`TRACEPARENT`, lower-case hex), version not ``ff``,
    neither the trace id nor the parent id all zeros, and nothing after the flags in
    version ``00`` (a later version may add fields, each after a dash)."""
    traceparent = event.get("traceparent")
    if not isinstance(traceparent, str):
        return None
    found = TRACEPARENT.fullmatch(traceparent)
    if (
        found is None
        or found["version"] == _INVALID_VERSION
        or (found["version"] == _FIRST_VERSION and found["more"] is not None)
        or not found["trace_id"].strip("0")
        or not found["parent_id"].strip("0")
    ):
        return None
    return traceparent


def body_bytes(body: Mapping[str, Any] | str) -> bytes:
    """The bytes an inbound body is reported and deduplicated under.

    A text body is what ingress could not route, kept byte for byte (undecodable
    bytes travel as surrogate escapes); a decoded object is written back as
    canonical JSON in UTF-8, so the same event is reported once whatever its
    whitespace, and never in more bytes than a compact body was received in.
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
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except Exception:
        return _UNWRITABLE_BODY
    try:
        # UTF-8 as received: an escaped "à" (\u00e0) is six bytes for two, and a
        # dead letter must not outgrow the size limit its event was received within.
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a JSON "\ud800" in an id) has no UTF-8: kept escaped.
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


class BindLogContext(Middleware):
    """Bind the actor, the message id, the event id, the event's customer and its W3C
    ``traceparent`` (a CloudEvents extension) to every log line of a message (the
    customer id is written as its pseudonym, and so is any mention of it in the line:
    ``residuo.log_privacy``).

    A ``traceparent`` that W3C Trace Context deems invalid (``traceparent_of``) is left
    out of the log context (it is still kept with the event): log lines carry only what
    a tracer can join on.
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
    tell ops of every other inbound event given up on (``workers.retries``).

    Invalid means: refused by ingress (``REFUSED_AT_INGRESS_OPTION``: over the size
    limit, which is judged there once, on the bytes received; unreadable headers), not
    a valid event (``parse_inbound``), or with an instant outside the plausible window
    (``messages.InboundBounds``). That is final (the same bytes fail the same way
    every time), so it is never retried: ``ledger.reject`` commits ``event.rejected``
    (once per body), then the message is
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
            refused = message.options.get(REFUSED_AT_INGRESS_OPTION)
            if refused is not None:
                raise _refusal(refused, body)
            self.bounds.check_times(parse_inbound(body, currency=self.ledger.policy.currency))
        except InvalidEvent as invalid:
            self._report(
                raw,
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
            raw,
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
        raw: bytes,
        reason: str,
        detail: str,
        *,
        event_id: str | None,
        event_type: str | None,
    ) -> None:
        """Report the body whose dead letter holds ``raw``: under the dead letter's id,
        whatever part of it the books keep (``_kept``)."""
        dead_letter_id = body_id(raw)
        try:
            first_report = self.ledger.reject(
                self._kept(raw),
                reason=reason,
                detail=detail,
                event_id=event_id,
                event_type=event_type,
                dead_letter_id=dead_letter_id,
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
            event_type=event_type,
            dead_letter_id=dead_letter_id,
            first_report=first_report,
        )


def _header(body: Mapping[str, Any] | str, name: str) -> str | None:
    value = body.get(name) if isinstance(body, Mapping) else None
    return value if isinstance(value, str) else None


def _refusal(refused: Mapping[str, Any], body: Mapping[str, Any] | str) -> InvalidEvent:
    """The `InvalidEvent` ingress found (``REFUSED_AT_INGRESS_OPTION``), named after the
    event's id and type as ingress read them, or as the body has them."""
    return InvalidEvent(
        # Written by ingress from an InvalidEvent's own reason.
        cast(RejectionReason, refused["reason"]),
        str(refused["detail"]),
        event_id=_header(refused, "event_id") or _header(body, "id"),
        event_type=_header(refused, "event_type") or _header(body, "type"),
    )
