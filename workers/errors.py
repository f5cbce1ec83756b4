"""The workers' exceptions: one root, a shallow hierarchy.

Three of them also subclass a Dramatiq middleware exception, because that is how a
middleware speaks to the worker: a ``SkipMessage`` ends a message without running
its actor, and a ``MiddlewareError`` raised before the actor is not swallowed by
the broker's signal dispatch, so the ``Retries`` middleware sees it.
"""

from dramatiq.middleware import MiddlewareError, SkipMessage

from messages import InvalidEvent

__all__ = [
    "DeadLetteredError",
    "InvalidSweepError",
    "RejectedEventError",
    "RejectionNotRecordedError",
    "WorkerError",
]


class WorkerError(Exception):
    """Root of every error raised by ``workers``."""


class RejectedEventError(WorkerError, SkipMessage):
    """The message carries an event that can never be valid: ops were told
    (``event.rejected``) and the message is dead-lettered, never retried."""

    def __init__(self, invalid: InvalidEvent) -> None:
        super().__init__(f"rejected event: {invalid}")
        self.invalid = invalid


class DeadLetteredError(WorkerError, SkipMessage):
    """A valid event given up on (its retries exhausted, or a processing error): ops
    were told (``event.rejected``) and the message is dead-lettered."""


class RejectionNotRecordedError(WorkerError, MiddlewareError):
    """An invalid event could not be reported (the database is unreachable): the
    message is retried rather than dead-lettered without its ``event.rejected``."""


class InvalidSweepError(WorkerError):
    """A sweep message that can never run: an unknown kind, a naive ``as_of``, an
    ``as_of`` still to come, or a run message no scheduler claimed (sent by hand,
    early) or whose ``as_of`` is not the claim's."""
