"""The RabbitMQ path's settings: read from RESIDUO_* variables, checked at start-up."""

import pytest
from pydantic import ValidationError

from residuo.settings import Settings
from workers.broker import RetryPolicy


def test_retry_settings_make_the_brokers_retry_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """``RESIDUO_RETRY_*`` become the policy the RabbitMQ broker retries with."""
    monkeypatch.setenv("RESIDUO_RETRY_MAX_RETRIES", "5")
    monkeypatch.setenv("RESIDUO_RETRY_MIN_BACKOFF_MS", "1000")
    monkeypatch.setenv("RESIDUO_RETRY_MAX_BACKOFF_MS", "60000")

    assert Settings().retry_policy == RetryPolicy(5, 1_000, 60_000)


def test_a_minimum_backoff_above_the_maximum_is_refused() -> None:
    """A backoff range that cannot be is an error at start-up."""
    with pytest.raises(ValidationError, match="below RESIDUO_RETRY_MIN_BACKOFF_MS"):
        Settings(retry_min_backoff_ms=60_000, retry_max_backoff_ms=1_000)


def test_the_defaults_retry_for_hours_under_the_consumer_timeout() -> None:
    """Twenty retries, 15 s doubling to at most 15 min: under RabbitMQ's 30 min."""
    settings = Settings()

    assert settings.retry_policy == RetryPolicy()
    assert settings.retry_max_backoff_ms < 30 * 60 * 1000
    assert (settings.worker_threads, settings.relay_batch_size) == (4, 100)
