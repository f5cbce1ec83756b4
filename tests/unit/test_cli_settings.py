"""Settings come from ``RESIDUO_*`` variables, the policy nested under ``RESIDUO_POLICY__``."""

import os

import pytest
import typer
from pydantic import ValidationError

from residuo.cli_support import load_settings
from residuo.settings import DEFAULT_DATABASE_URL, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [each for each in os.environ if each.startswith("RESIDUO_")]:
        monkeypatch.delenv(name)


def test_the_defaults_run_the_embedded_pipeline() -> None:
    """No environment: a SQLite file here, the in-memory broker, the SPEC's policy."""
    settings = Settings()

    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.embedded_broker
    assert settings.policy.hold_window_days == 30
    assert settings.log_format == "console"


def test_policy_fields_are_nested_and_collections_are_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``RESIDUO_POLICY__HOLD_WINDOW_DAYS=45``; tuples and sets as JSON lists."""
    monkeypatch.setenv("RESIDUO_POLICY__HOLD_WINDOW_DAYS", "45")
    monkeypatch.setenv("RESIDUO_POLICY__CREDIT_REMINDER_DAYS", "[7, 30, 1]")
    monkeypatch.setenv(
        "RESIDUO_POLICY__REFUNDABLE_ORIGINS", '["spid_timeout", "activation_failed"]'
    )

    policy = Settings().policy

    assert policy.hold_window_days == 45
    assert policy.credit_reminder_days == (30, 7, 1)
    assert policy.refundable_origins == {"spid_timeout", "activation_failed"}


def test_a_misspelt_policy_field_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A setting silently ignored would be a rule silently unchanged."""
    monkeypatch.setenv("RESIDUO_POLICY__HOLD_WINDOW_DAY", "45")

    with pytest.raises(ValidationError, match="hold_window_day"):
        Settings()


def test_the_broker_is_memory_or_amqp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any other broker URL is refused when the settings are read."""
    monkeypatch.setenv("RESIDUO_BROKER_URL", "redis://localhost")

    with pytest.raises(ValidationError, match="amqp"):
        Settings()


def test_the_log_level_is_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """``info`` and ``INFO`` mean the same level."""
    monkeypatch.setenv("RESIDUO_LOG_LEVEL", "info")

    assert Settings().log_level == "INFO"


def test_the_inbound_bounds_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Body size and time window come from the environment, with 1 MiB and
    [2000, 2100) by default."""
    default = Settings().inbound_bounds
    monkeypatch.setenv("RESIDUO_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("RESIDUO_EVENT_TIME_LATEST", "2050-01-01T00:00:00+00:00")

    bounds = Settings().inbound_bounds

    assert default.max_body_bytes == 1_048_576
    assert (default.earliest.year, default.latest.year) == (2000, 2100)
    assert (bounds.max_body_bytes, bounds.latest.year) == (2048, 2050)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RESIDUO_EVENT_TIME_LATEST", "9999-06-01T00:00:00+00:00"),
        ("RESIDUO_EVENT_TIME_EARLIEST", "0001-01-01T00:00:00+00:00"),
        ("RESIDUO_POLICY__CREDIT_VALIDITY_MONTHS", "96000"),
    ],
)
def test_a_window_whose_derived_dates_do_not_exist_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Every expiry, deadline and reminder of a plausible event must be a real date:
    a window (or a policy) that would derive year 10000 is refused at start-up."""
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError, match="no calendar holds"):
        Settings()


def test_an_empty_time_window_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Earliest must come before latest."""
    monkeypatch.setenv("RESIDUO_EVENT_TIME_EARLIEST", "2101-01-01T00:00:00+00:00")

    with pytest.raises(ValidationError, match="must precede"):
        Settings()


def test_an_allowed_lateness_reaching_before_the_calendar_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Variant of attack9 #11: not a huge number alone, but ten years of lateness
    behind a window opening in year 5 reaches before year 1 (``ledger.timeline``
    subtracts it from the watermark). Refused at start-up naming the setting; a
    year's lateness behind the same window is fine."""
    monkeypatch.setenv("RESIDUO_EVENT_TIME_EARLIEST", "0005-01-01T00:00:00+00:00")
    monkeypatch.setenv("RESIDUO_POLICY__ALLOWED_LATENESS_DAYS", "365")
    assert Settings().policy.allowed_lateness_days == 365

    monkeypatch.setenv("RESIDUO_POLICY__ALLOWED_LATENESS_DAYS", "3650")
    with pytest.raises(ValidationError, match="ALLOWED_LATENESS_DAYS"):
        Settings()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RESIDUO_POLICY__REFUNDABLE_ORIGINS", "spid_timeout", "given as JSON"),
        (
            "RESIDUO_EVENT_TIME_EARLIEST",
            "2101-01-01T00:00:00+00:00",
            "RESIDUO_EVENT_TIME_EARLIEST must precede RESIDUO_EVENT_TIME_LATEST",
        ),
    ],
)
def test_a_bad_setting_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    expected: str,
) -> None:
    """Variants of attack9 #8: a set not written as JSON (pydantic-settings cannot
    even decode it), and a check of two settings together, which has no single
    setting to name: one line each, exit status 2."""
    monkeypatch.setenv(variable, value)

    with pytest.raises(typer.Exit) as stopped:
        load_settings()

    assert stopped.value.exit_code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("residuo: error: invalid settings: ")
    assert expected in line
