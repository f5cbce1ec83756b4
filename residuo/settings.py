"""Settings from the environment: every knob of residuo, read once by the bootstrap.

Names are ``RESIDUO_<FIELD>``; the policy is nested with a double underscore
(``RESIDUO_POLICY__HOLD_WINDOW_DAYS=45``) and its tuples, sets and mappings are given
as JSON (``RESIDUO_POLICY__CREDIT_REMINDER_DAYS='[30, 7, 1]'``). A misspelt policy
field is an error at start-up, never a silently ignored setting.
"""

from typing import Final, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.policy import Policy
from workers.broker import MEMORY_BROKER_URL

__all__ = ["DEFAULT_DATABASE_URL", "MEMORY_BROKER_URL", "LogFormat", "LogLevel", "Settings"]

DEFAULT_DATABASE_URL: Final = "sqlite:///residuo.sqlite3"


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["console", "json"]


class Settings(BaseSettings):
    """What an operator may configure; the defaults run the embedded pipeline."""

    model_config = SettingsConfigDict(
        env_prefix="RESIDUO_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: a SQLite file (embedded) or postgresql://…",
    )
    broker_url: str = Field(
        MEMORY_BROKER_URL,
        description="'memory' for the in-process broker, or an amqp:// (amqps://) URL",
    )
    policy: Policy = Field(default_factory=Policy, description="the credit rules' numbers (R12)")
    log_level: LogLevel = Field(
        "WARNING", description="one-shot commands stay quiet; set INFO for long-running ones"
    )
    log_format: LogFormat = Field(
        "console", description="'console' for people, 'json' (one object a line) for machines"
    )

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, url: str) -> str:
        if url != MEMORY_BROKER_URL and not url.startswith(("amqp://", "amqps://")):
            raise ValueError(f"expected {MEMORY_BROKER_URL!r} or an amqp:// URL")
        return url

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level

    @property
    def embedded_broker(self) -> bool:
        """Whether messages stay in this process (the in-memory broker)."""
        return self.broker_url == MEMORY_BROKER_URL
