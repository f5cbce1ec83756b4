"""The credit policy (R12): every number of the rules is data, with the SPEC defaults."""

from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Origin", "Policy", "Purpose"]

Origin = Literal["activation_failed", "spid_timeout", "goodwill"]
Purpose = Literal["purchase", "renewal", "modification"]


class Policy(BaseModel):
    """Settings the rules read; loaded from ``RESIDUO_POLICY__*`` by the bootstrap."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    credit_validity_months: int = Field(12, ge=1)
    spid_activation_days: int = Field(90, ge=1)
    hold_window_days: int = Field(30, ge=1)
    credit_reminder_days: tuple[int, ...] = (30, 7)
    spid_reminder_days: tuple[int, ...] = (30, 7)
    refundable_origins: frozenset[Origin] = frozenset({"spid_timeout"})
    origin_purposes: dict[Origin, frozenset[Purpose]] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]
            "activation_failed": frozenset({"purchase", "renewal", "modification"}),
            # The help page: SPID credit "può essere utilizzato … per l'acquisto o il
            # rinnovo di un altro servizio": modification is not listed.
            "spid_timeout": frozenset({"purchase", "renewal"}),
            # Granted by an operator (``residuo adjust goodwill``): pays like any.
            "goodwill": frozenset({"purchase", "renewal", "modification"}),
        }
    )
    spid_credit_anchor: Literal["paid_at", "cancelled_at"] = "paid_at"
    allowed_lateness_days: int = Field(365, ge=0)
    """How late (in business time, behind the watermark) an event may come and still
    leave the books exactly as if it had come in order (``ledger.corrections``)."""
    spid_service: str = "spid"
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    business_timezone: str = "Europe/Rome"

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # Refused at start-up rather than mid-sweep; ZoneInfoNotFoundError is a KeyError,
        # which pydantic would not turn into a ValidationError.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("credit_reminder_days", "spid_reminder_days")
    @classmethod
    def _positive_descending(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(days <= 0 for days in value):
            raise ValueError("reminder offsets are positive numbers of days")
        return tuple(sorted(set(value), reverse=True))

    @property
    def allowed_lateness(self) -> timedelta:
        """``allowed_lateness_days`` as a duration."""
        return timedelta(days=self.allowed_lateness_days)

    @property
    def zone(self) -> ZoneInfo:
        """The business time zone, where every calendar rule is read."""
        return ZoneInfo(self.business_timezone)

    def is_refundable(self, origin: Origin) -> bool:
        """Whether credit of ``origin`` may be refunded instead of used (R9)."""
        return origin in self.refundable_origins

    def may_pay(self, origin: Origin, purpose: Purpose) -> bool:
        """Whether credit of ``origin`` may pay an order of ``purpose`` (R3, R5)."""
        return purpose in self.origin_purposes.get(origin, frozenset())
