"""What ``residuo dead-letters`` and ``residuo status`` need beyond the broker: which
dead letters are resolved, which would only bounce back if replayed, and the audit
record of what ops decided.

A replay is refused, unless forced, for a dead letter that would change nothing:

* an inbound event that still fails validation: judged by this process's code and
  settings with the worker's own checks (``messages.InboundBounds``: the size
  limit, then ``parse_inbound``, then the time window), it would be dead-lettered
  again at once;
* a resolved one (``ledger.dead_letters``): its event is in the books already, so
  the replay would be a duplicate.
"""

import getpass
from collections.abc import Iterable, Sequence
from datetime import datetime

from ledger.dead_letters import DeadLetterRef
from ledger.service import Ledger
from messages import InboundBounds, InvalidEvent, parse_inbound
from workers.rabbitmq.dead_letter_queue import DeadLetter

__all__ = ["current_operator", "reference", "replay_refusals", "resolutions"]

_DEFAULT_BOUNDS = InboundBounds()
# Login names that are an account, not a person: `nobody` is the image's user.
_NO_ONE = frozenset({"nobody"})


def reference(letter: DeadLetter) -> DeadLetterRef:
    """``letter`` as the books see it."""
    return DeadLetterRef(
        dead_letter_id=letter.dead_letter_id,
        queue=letter.queue or letter.dead_letter_queue,
        event_id=letter.event_id,
        event_type=letter.event_type,
        reason=letter.reason,
        detail=letter.detail,
        dead_lettered_at=_instant(letter.dead_lettered_at),
    )


def resolutions(ledger: Ledger, letters: Iterable[DeadLetter]) -> dict[str, str]:
    """Dead-letter id → the event id that resolved it, for the resolved among ``letters``."""
    return ledger.resolved_dead_letters([reference(each) for each in letters])


def replay_refusals(
    ledger: Ledger, letters: Sequence[DeadLetter], *, bounds: InboundBounds = _DEFAULT_BOUNDS
) -> dict[str, str]:
    """Dead-letter id → why replaying it would change nothing, for such ``letters``;
    ``bounds`` are the worker's (the settings' ``inbound_bounds``)."""
    resolved = resolutions(ledger, letters)
    refusals = {}
    for letter in letters:
        if letter.dead_letter_id in resolved:
            refusals[letter.dead_letter_id] = (
                f"resolved: event {resolved[letter.dead_letter_id]} is in the books"
            )
        elif letter.dramatiq_message is None:
            try:
                bounds.check_size(letter.body)
                bounds.check_times(parse_inbound(letter.body, currency=ledger.policy.currency))
            except InvalidEvent as invalid:
                refusals[letter.dead_letter_id] = f"still invalid: {invalid}"
    return refusals


def current_operator(given: str | None) -> str | None:
    """Who decides, for the audit record: ``given`` (``--operator`` or
    ``RESIDUO_OPERATOR``), else the login name of whoever runs the command; None when
    that names no one (no login name at all, or ``nobody``, the account the image
    runs as: every decision made through the compose stack would be signed so)."""
    if given and given.strip():
        return given.strip()
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        # No login name in the environment nor the password database (a bare container).
        return None
    return None if login in _NO_ONE else login


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None
