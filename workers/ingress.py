"""From a raw body to the actor that handles it, by its CloudEvents ``type``.

Routing only reads the ``type``; validating the rest is the actors' middleware's
job. A body that names no known type (not JSON, not an object, an unknown or
missing ``type``) still gets a message: to the unroutable-event actor, whose
middleware reports it (``event.rejected``) and dead-letters it like any other
invalid event. So there is exactly one rejection path, whatever the input.
"""

import json
from typing import Any

from dramatiq import Message

from workers.actors import Actors

__all__ = ["route"]


def route(body: bytes, actors: Actors) -> Message[None]:
    """The message to enqueue for ``body``; no I/O, the caller enqueues it."""
    decoded = _json_object(body)
    if decoded is not None:
        event_type = decoded.get("type")
        actor = actors.by_event_type.get(event_type) if isinstance(event_type, str) else None
        if actor is not None:
            return actor.message(decoded)
    # Undecodable bytes travel as surrogate escapes, so the report hashes the very
    # bytes received and the rejection says "not UTF-8" rather than something vaguer.
    return actors.unroutable.message(body.decode("utf-8", errors="surrogateescape"))


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None
