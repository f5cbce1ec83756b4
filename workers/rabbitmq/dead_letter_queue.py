"""Reading, re-driving and removing dead letters (``residuo dead-letters``).

Each walks a ``.XQ`` queue with ``basic.get`` and no auto-ack, never further than the
number of messages it held at the start, so a replayed message dead-lettered again
meanwhile is not met twice. Messages left unacknowledged go back to the queue with a
``basic.nack`` (requeue) before the channel closes: listing changes nothing, replay
removes only what it re-published, each after RabbitMQ confirmed its new copy, and
removal only what it was asked to, each after the caller kept its record
(``before_removal``).

A walk is for an operator's command, never for a routine reading (``residuo status``
counts without one): while it lasts the letters it holds are invisible to every
other reader, and on a quorum queue each read may count as a delivery attempt
(RabbitMQ before 4.3 counts every return; 4.3 and later count a ``basic.nack`` as
none, hence the explicit nack), which a ``delivery-limit`` turns into a lost dead
letter: ``docs/rabbitmq.md``, "A cluster".

A dead letter's id (`DeadLetter.dead_letter_id`) is its Dramatiq message id when it
holds a Dramatiq message (a sweep), and ``sha256:<hex>`` of its body otherwise (an
inbound event): the id ``event.rejected`` gives the same body.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pika
import pika.exceptions
from dramatiq import Message
from dramatiq.common import q_name, xq_name
from dramatiq.errors import DecodeError

from messages import InvalidEvent, body_id
from messages.amqp_binding import structured_event
from workers.middleware import body_bytes
from workers.rabbitmq.admin import open_channel
from workers.rabbitmq.dead_letters import (
    ACTOR_HEADER,
    DEAD_LETTERED_AT_HEADER,
    DETAIL_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    QUEUE_HEADER,
    REASON_HEADER,
    RETRIES_HEADER,
)

__all__ = [
    "DeadLetter",
    "DeadLetterQueueMissingError",
    "list_dead_letters",
    "remove_dead_letters",
    "replay_dead_letters",
]

_PERSISTENT: Final = 2
_NOT_FOUND: Final = 404
# Bookkeeping of the failed attempts: a replay starts the message afresh.
_ATTEMPT_OPTIONS: Final = frozenset(
    {"retries", "traceback", "requeue_timestamp", "eta", "rejection", "dead_letter"}
)


class DeadLetterQueueMissingError(LookupError):
    """The queue has no ``.XQ`` yet: no worker has consumed from it."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter as read from its ``.XQ``, headers decoded."""

    dead_letter_queue: str
    message_id: str | None
    reason: str
    detail: str | None
    queue: str | None
    actor: str | None
    event_id: str | None
    event_type: str | None
    retries: int | None
    dead_lettered_at: str | None
    body: bytes

    @property
    def dramatiq_message(self) -> Message[Any] | None:
        """The Dramatiq message the body holds, if it holds one (not an inbound event)."""
        try:
            return Message.decode(self.body)
        except DecodeError:
            return None

    @property
    def dead_letter_id(self) -> str:
        """The one id of this dead letter in ``list``, ``replay``, ``drop``, ``archive``
        and ``event.rejected`` (see the module)."""
        message = self.dramatiq_message
        return message.message_id if message is not None else body_id(self.body)

    def matches(self, identifier: str) -> bool:
        """Whether ``identifier`` is this dead letter's id or its event's id (which
        selects every dead letter of that event)."""
        return identifier in {self.dead_letter_id, self.event_id}


def list_dead_letters(url: str, queue_names: Sequence[str], *, limit: int) -> list[DeadLetter]:
    """At most ``limit`` dead letters of each of ``queue_names`` (canonical names),
    oldest first; a queue without a ``.XQ`` has none."""
    letters: list[DeadLetter] = []
    for queue_name in queue_names:
        with open_channel(url) as channel:
            try:
                held = _depth(channel, xq_name(queue_name))
            except DeadLetterQueueMissingError:
                continue
            read = []
            for _ in range(min(held, limit)):
                got = _get(channel, xq_name(queue_name))
                if got is None:
                    break
                read.append(got[1])
            _return_held(channel, bool(read))
            letters.extend(read)
    return letters


def replay_dead_letters(
    url: str,
    queue_name: str,
    selected: Callable[[DeadLetter], bool],
    *,
    after_publish: Callable[[DeadLetter], None] = lambda _: None,
) -> list[DeadLetter]:
    """Re-publish the ``selected`` dead letters of ``queue_name`` to it; the replayed.

    Each is removed once RabbitMQ confirmed its new copy and ``after_publish`` (the
    audit record) returned; if that raises, the dead letter stays and the error
    propagates. Raises ``DeadLetterQueueMissingError``, or
    ``pika.exceptions.UnroutableError`` if ``queue_name`` itself does not exist
    (nothing is removed then).
    """

    def republish(channel: Any, letter: DeadLetter) -> None:
        channel.basic_publish(
            "",
            queue_name,
            _fresh_body(letter.body, queue_name),
            pika.BasicProperties(
                delivery_mode=_PERSISTENT,
                message_id=letter.message_id,
                content_type="application/json" if letter.event_type else None,
            ),
            mandatory=True,
        )
        after_publish(letter)

    return _settle(url, queue_name, selected, republish)


def remove_dead_letters(
    url: str,
    queue_name: str,
    selected: Callable[[DeadLetter], bool],
    *,
    before_removal: Callable[[DeadLetter], None],
) -> list[DeadLetter]:
    """Remove the ``selected`` dead letters of ``queue_name``; the removed.

    ``before_removal`` keeps the record of each (what ops decided) first: if it raises,
    that dead letter stays and the error propagates. Raises
    ``DeadLetterQueueMissingError``.
    """
    return _settle(url, queue_name, selected, lambda _channel, letter: before_removal(letter))


def _settle(
    url: str,
    queue_name: str,
    selected: Callable[[DeadLetter], bool],
    act: Callable[[Any, DeadLetter], None],
) -> list[DeadLetter]:
    """Walk ``queue_name``'s ``.XQ`` once; ``act`` on each selected letter, then ack it."""
    dead_letter_queue = xq_name(queue_name)
    settled = []
    with open_channel(url, confirms=True) as channel:
        held = False
        for _ in range(_depth(channel, dead_letter_queue)):
            got = _get(channel, dead_letter_queue)
            if got is None:
                break
            tag, letter = got
            if not selected(letter):
                held = True
                continue
            act(channel, letter)
            channel.basic_ack(tag)
            settled.append(letter)
        _return_held(channel, held)
    return settled


def _return_held(channel: Any, held: bool) -> None:
    """Give every letter still held on ``channel`` back to its queue, in its place."""
    if held:
        channel.basic_nack(delivery_tag=0, multiple=True, requeue=True)


def _depth(channel: Any, queue: str) -> int:
    try:
        count: int = channel.queue_declare(queue, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code != _NOT_FOUND:
            raise
        raise DeadLetterQueueMissingError(f"{queue} does not exist") from None
    return count


def _get(channel: Any, queue: str) -> tuple[int, DeadLetter] | None:
    method, properties, body = channel.basic_get(queue, auto_ack=False)
    if method is None:
        return None
    return method.delivery_tag, _read(queue, properties, body)


def _read(queue: str, properties: Any, body: bytes) -> DeadLetter:
    headers: Mapping[str, Any] = properties.headers or {}

    def text(name: str) -> str | None:
        value = headers.get(name)
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    retries = headers.get(RETRIES_HEADER)
    event = _binary_mode_event(headers, properties.content_type, body)
    if event is not None:
        # RabbitMQ dead-lettered an upstream message itself (it expired, or was
        # rejected before residuo read it) as it was sent: in binary content mode,
        # the attributes in headers. Its body alone is no event: the dead letter is
        # the structured event it stands for, as residuo writes its own dead letters,
        # so that ``replay`` judges and re-publishes the event, not its bare data.
        body = body_bytes(event)
    return DeadLetter(
        dead_letter_queue=queue,
        message_id=properties.message_id,
        reason=text(REASON_HEADER) or _death_reason(headers),
        detail=text(DETAIL_HEADER),
        queue=text(QUEUE_HEADER) or q_name(queue),
        actor=text(ACTOR_HEADER),
        event_id=text(EVENT_ID_HEADER) or _attribute(event, "id"),
        event_type=text(EVENT_TYPE_HEADER) or _attribute(event, "type"),
        retries=retries if isinstance(retries, int) else None,
        dead_lettered_at=text(DEAD_LETTERED_AT_HEADER),
        body=body,
    )


def _binary_mode_event(
    headers: Mapping[str, Any], content_type: str | None, body: bytes
) -> dict[str, Any] | None:
    """The structured event a message dead-lettered by RabbitMQ in binary mode stands
    for; None for anything else (residuo's own dead letters carry its headers)."""
    if REASON_HEADER in headers:
        return None
    try:
        return structured_event(headers, content_type, body)
    except InvalidEvent:
        return None


def _attribute(event: Mapping[str, Any] | None, name: str) -> str | None:
    value = event.get(name) if event is not None else None
    return value if isinstance(value, str) else None


def _death_reason(headers: Mapping[str, Any]) -> str:
    # Dead-lettered by RabbitMQ itself (a plain nack, an expiry): x-death says how.
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        reason = deaths[0].get("reason")
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return f"broker:{reason}"
    return "unknown"


def _fresh_body(body: bytes, queue_name: str) -> bytes:
    """A Dramatiq message loses its failed attempts' bookkeeping and names the queue
    it is replayed to (a message that failed from a delay queue names that one);
    any other body (an inbound event) is replayed byte for byte."""
    try:
        message = Message.decode(body)
    except DecodeError:
        return body
    options = {k: v for k, v in message.options.items() if k not in _ATTEMPT_OPTIONS}
    fresh: Message[Any] = Message(
        queue_name=queue_name,
        actor_name=message.actor_name,
        args=message.args,
        kwargs=message.kwargs,
        options=options,
        message_id=message.message_id,
        message_timestamp=message.message_timestamp,
    )
    return fresh.encode()
