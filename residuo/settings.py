"""Settings from the environment: every knob of residuo, read once by the bootstrap.

Names are ``RESIDUO_<FIELD>``; the policy is nested with a double underscore
(``RESIDUO_POLICY__HOLD_WINDOW_DAYS=45``) and its tuples, sets and mappings are given
as JSON (``RESIDUO_POLICY__CREDIT_REMINDER_DAYS='[30, 7, 1]'``). A misspelt policy
field is an error at start-up, never a silently ignored setting.
"""

from datetime import timedelta
from typing import Final, Literal, Self

from pydantic import (
    AwareDatetime,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.calendar import (
    FIRST_REPRESENTABLE,
    LAST_REPRESENTABLE,
    add_calendar_days,
    add_calendar_months,
)
from ledger.policy import Policy
from ledger.sweep_runs import DEFAULT_CHUNK_SIZE
from messages.bounds import (
    DEFAULT_EARLIEST,
    DEFAULT_LATEST,
    DEFAULT_MAX_BODY_BYTES,
    InboundBounds,
)
from residuo.connection_urls import check_database_url, check_server_urls, url_secrets
from scheduler.settings import SchedulerSettings
from workers.broker import MEMORY_BROKER_URL, RetryPolicy
from workers.rabbitmq.broker import DEFAULT_PUBLISH_TIMEOUT_MS
from workers.rabbitmq.topology import CLASSIC, QueueType
from workers.relay import DEFAULT_BATCH_SIZE, DEFAULT_POLL_INTERVAL_MS

__all__ = ["DEFAULT_DATABASE_URL", "MEMORY_BROKER_URL", "LogFormat", "LogLevel", "Settings"]

DEFAULT_DATABASE_URL: Final = "sqlite:///residuo.sqlite3"

_DEFAULT_RETRIES: Final = RetryPolicy()


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
    broker_queue_type: QueueType = Field(
        CLASSIC,
        description="'classic', or 'quorum' (replicated: for a RabbitMQ cluster) for every "
        "queue residuo declares; a queue keeps the type it was created with",
    )
    broker_management_url: str | None = Field(
        None,
        description="RabbitMQ's management API (http://user:password@host:15672/), for "
        "`residuo status`; unset: the broker's host on port 15672, same credentials",
    )
    log_level: LogLevel = Field(
        "WARNING", description="one-shot commands stay quiet; set INFO for long-running ones"
    )
    log_format: LogFormat = Field(
        "console", description="'console' for people, 'json' (one object a line) for machines"
    )
    log_pseudonym_key: SecretStr | None = Field(
        None,
        description="HMAC key of the customer pseudonyms in logs; unset: one per process",
    )
    broker_publish_timeout_ms: int = Field(
        DEFAULT_PUBLISH_TIMEOUT_MS,
        gt=0,
        description="how long one publish to RabbitMQ keeps retrying a broker that is away",
    )
    retry_max_retries: int = Field(
        _DEFAULT_RETRIES.max_retries, ge=0, description="retries of a message failing transiently"
    )
    retry_min_backoff_ms: int = Field(
        _DEFAULT_RETRIES.min_backoff_ms, gt=0, description="delay before the first retry"
    )
    retry_max_backoff_ms: int = Field(
        _DEFAULT_RETRIES.max_backoff_ms, gt=0, description="longest delay between two retries"
    )
    retry_max_processing_retries: int = Field(
        _DEFAULT_RETRIES.max_processing_retries,
        ge=0,
        description="retries of a message failing for any other reason (a bug, a bad value)",
    )
    worker_threads: int = Field(4, gt=0, description="messages one worker process handles at once")
    worker_shutdown_timeout_ms: int = Field(
        50_000, gt=0, description="on SIGTERM, how long in-flight messages may take to finish"
    )
    relay_poll_interval_ms: int = Field(
        DEFAULT_POLL_INTERVAL_MS, gt=0, description="relay: pause when the outbox is drained"
    )
    scheduler: SchedulerSettings = Field(
        default_factory=SchedulerSettings,
        description="when the daily sweeps run (RESIDUO_SCHEDULER__RUN_AT, …)",
    )
    sweep_chunk_size: int = Field(
        DEFAULT_CHUNK_SIZE, gt=0, description="sweeps: due rows settled per transaction"
    )
    relay_batch_size: int = Field(
        DEFAULT_BATCH_SIZE, gt=0, description="relay: rows claimed per transaction"
    )
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES,
        gt=0,
        description="largest inbound body read; a larger one is dead-lettered (body_too_large)",
    )
    event_time_earliest: AwareDatetime = Field(
        DEFAULT_EARLIEST, description="inbound instants before this are implausible"
    )
    event_time_latest: AwareDatetime = Field(
        DEFAULT_LATEST, description="inbound instants from this one on are implausible"
    )

    @field_validator("database_url")
    @classmethod
    def _usable_database(cls, url: str) -> str:
        check_database_url(url)
        return url

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, url: str) -> str:
        if url == MEMORY_BROKER_URL:
            return url
        if not all(each.startswith(("amqp://", "amqps://")) for each in url.split(";")):
            raise ValueError(f"expected {MEMORY_BROKER_URL!r} or amqp:// URLs")
        check_server_urls(url)
        return url

    @field_validator("broker_management_url")
    @classmethod
    def _readable_management_api(cls, url: str | None) -> str | None:
        if url is not None:
            check_server_urls(url)
        return url

    @field_validator("retry_max_backoff_ms")
    @classmethod
    def _backoff_range(cls, max_backoff_ms: int, info: ValidationInfo) -> int:
        min_backoff_ms = info.data.get("retry_min_backoff_ms")
        if min_backoff_ms is not None and max_backoff_ms < min_backoff_ms:
            raise ValueError(f"below RESIDUO_RETRY_MIN_BACKOFF_MS ({min_backoff_ms})")
        return max_backoff_ms

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level

    @model_validator(mode="after")
    def _derived_dates_representable(self) -> Self:
        """Every date the rules derive from a plausible event must exist: an expiry
        (anchored at a SPID cancellation at the latest), a hold's due date, the
        reminders before a deadline and the allowed lateness behind the watermark
        (``ledger.timeline``) at the earliest."""
        if self.event_time_earliest >= self.event_time_latest:
            raise ValueError("RESIDUO_EVENT_TIME_EARLIEST must precede RESIDUO_EVENT_TIME_LATEST")
        policy, zone = self.policy, self.policy.zone
        longest_reminder = max((*policy.credit_reminder_days, *policy.spid_reminder_days, 0))
        reaches_back = max(longest_reminder, policy.allowed_lateness_days)
        try:
            cancelled = add_calendar_days(self.event_time_latest, policy.spid_activation_days, zone)
            latest = max(
                add_calendar_months(cancelled, policy.credit_validity_months, zone),
                add_calendar_days(self.event_time_latest, policy.hold_window_days, zone),
            )
            earliest = self.event_time_earliest - timedelta(days=reaches_back)
        except (OverflowError, ValueError) as error:
            raise ValueError(self._unrepresentable(str(error))) from error
        if latest > LAST_REPRESENTABLE or earliest < FIRST_REPRESENTABLE:
            raise ValueError(self._unrepresentable(f"dates from {earliest} to {latest}"))
        return self

    def _unrepresentable(self, problem: str) -> str:
        return (
            "RESIDUO_EVENT_TIME_EARLIEST and RESIDUO_EVENT_TIME_LATEST "
            f"[{self.event_time_earliest}, {self.event_time_latest}) with the policy's "
            "day counts (RESIDUO_POLICY__ALLOWED_LATENESS_DAYS, __CREDIT_VALIDITY_MONTHS, "
            "__HOLD_WINDOW_DAYS, __SPID_ACTIVATION_DAYS, the reminder days) derive dates no "
            f"calendar holds ({problem}): narrow the window or lower those numbers"
        )

    @property
    def secrets(self) -> list[str]:
        """What logs must never show: the passwords in the database and broker URLs
        (as written, percent-encoded, and decoded; ``user:password@`` and
        ``?password=``, see ``residuo.connection_urls``) and the pseudonym key."""
        urls = (self.database_url, self.broker_url, self.broker_management_url or "")
        found = [secret for url in urls for each in url.split(";") for secret in url_secrets(each)]
        if self.log_pseudonym_key is not None:
            found.append(self.log_pseudonym_key.get_secret_value())
        return list(dict.fromkeys(found))

    @property
    def inbound_bounds(self) -> InboundBounds:
        """The size and time window inbound events must fit."""
        return InboundBounds(
            max_body_bytes=self.max_body_bytes,
            earliest=self.event_time_earliest,
            latest=self.event_time_latest,
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        """How the RabbitMQ broker retries transient failures."""
        return RetryPolicy(
            max_retries=self.retry_max_retries,
            min_backoff_ms=self.retry_min_backoff_ms,
            max_backoff_ms=self.retry_max_backoff_ms,
            max_processing_retries=self.retry_max_processing_retries,
        )

    @property
    def embedded_broker(self) -> bool:
        """Whether messages stay in this process (the in-memory broker)."""
        return self.broker_url == MEMORY_BROKER_URL
