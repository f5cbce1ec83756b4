"""The scheduler's knobs, from ``RESIDUO_SCHEDULER__*``: when the daily sweeps run,
how often the scheduler looks at its runs, and when a silent run is sent again.

The names are those a ``scheduler`` field of ``residuo.settings.Settings`` would
read (``RESIDUO_`` + ``SCHEDULER`` + ``__`` + field), so the model can be nested there
unchanged. The business time zone is the policy's (``RESIDUO_POLICY__BUSINESS_TIMEZONE``).
"""

from datetime import time, timedelta

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SchedulerSettings"]


class SchedulerSettings(BaseSettings):
    """When and how the daily sweeps are emitted."""

    model_config = SettingsConfigDict(env_prefix="RESIDUO_SCHEDULER__", frozen=True, extra="ignore")

    run_at: time = Field(
        time(4, 30),
        description="local time of the daily sweeps in the business zone; 04:30 lies "
        "outside the 02:00-03:00 window in which Europe/Rome changes its clocks",
    )
    poll_seconds: int = Field(
        10, ge=1, description="how often a run in flight is looked at (and the next one sent)"
    )
    resend_after_seconds: int = Field(
        900,
        ge=1,
        description="a run that has not advanced for this long is sent again (lost message)",
    )

    @field_validator("run_at")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a wall-clock time in the business zone, without an offset")
        return value

    @property
    def poll_every(self) -> timedelta:
        return timedelta(seconds=self.poll_seconds)

    @property
    def resend_after(self) -> timedelta:
        return timedelta(seconds=self.resend_after_seconds)
