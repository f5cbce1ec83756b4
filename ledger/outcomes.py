"""What became of an inbound event: applied, parked until its order exists, or refused."""

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["APPLIED", "PARKED", "Applied", "Outcome"]


class Outcome(StrEnum):
    """What became of an inbound event (the inbox status)."""

    APPLIED = "applied"
    PARKED = "parked"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Applied:
    """An event's outcome; a refusal carries the reason ops will read. ``declined``: a
    credit request handled by turning it down (applied: the customer was told why),
    with the request's reason."""

    outcome: Outcome
    reason: str | None = None
    detail: str | None = None
    declined: str | None = None

    @classmethod
    def refused(cls, reason: str, detail: str) -> "Applied":
        return cls(Outcome.REFUSED, reason, detail)


APPLIED = Applied(Outcome.APPLIED)
PARKED = Applied(Outcome.PARKED)
