"""attack9: what an operator can get wrong ends ``residuo`` with a Python traceback
instead of the one-line ``residuo: error: …`` (issue 9: "settings that crash at
startup with a traceback instead of a one-line error").

* Settings: an unparsable or unsupported database URL, a URL with a bad port or
  host, a policy list that is not JSON. Observed: ``sqlalchemy.exc.ArgumentError``,
  ``ModuleNotFoundError: No module named 'MySQLdb'``, ``ValueError: Invalid IPv6
  URL``, ``ValueError: … 'port'``, ``pydantic_settings.exceptions.SettingsError``.
* ``residuo adjust``: an expiry in year 9999 (an operator's "never expires") is an
  ``OverflowError`` traceback, an ``--at`` in year 1 a ``StatementError`` one, and an
  ``--at`` in 1970, outside the window every inbound instant must fit
  (``RESIDUO_EVENT_TIME_EARLIEST``), is booked.

Expected: a one-line ``residuo: error: …``, exit status 1 or 2, nothing booked.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
from e2e.test_cli import RESIDUO, run, write_replay_file

pytestmark = pytest.mark.e2e


def run_with(tmp_path: Path, variable: str, value: str) -> subprocess.CompletedProcess[str]:
    environment = {
        name: each for name, each in os.environ.items() if not name.startswith("RESIDUO_")
    }
    return subprocess.run(
        [str(RESIDUO), "balance", "1234567@aruba.it"],
        capture_output=True,
        text=True,
        env=environment | {variable: value},
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RESIDUO_DATABASE_URL", "nonsense"),
        ("RESIDUO_DATABASE_URL", "mysql://residuo:hunter2@db/residuo"),
        ("RESIDUO_DATABASE_URL", "postgresql://residuo:hunter2@[db/residuo"),
        ("RESIDUO_DATABASE_URL", "postgresql://residuo:hunter2@db:port/residuo"),
        ("RESIDUO_BROKER_URL", "amqp://residuo:hunter2@rabbit:port/"),
        ("RESIDUO_POLICY__CREDIT_REMINDER_DAYS", "30, 7"),
    ],
)
def test_attack9_a_bad_setting_is_a_one_line_error(
    tmp_path: Path, variable: str, value: str
) -> None:
    result = run_with(tmp_path, variable, value)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in {1, 2}
    assert result.stderr.startswith("residuo: error: ")
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    "dates",
    [
        pytest.param(["--until", "9999-12-31T23:00:00+00:00"], id="until-9999"),
        pytest.param(
            ["--until", "2027-06-01T00:00:00+00:00", "--at", "0001-01-01T00:30:00+01:00"],
            id="at-year-1",
        ),
        pytest.param(
            ["--until", "2027-06-01T00:00:00+00:00", "--at", "1970-01-01T00:00:00+00:00"],
            id="at-1970",
        ),
    ],
)
def test_attack9_an_adjustment_outside_the_calendar_is_a_one_line_refusal(
    tmp_path: Path, dates: list[str]
) -> None:
    assert run(tmp_path, "replay", str(write_replay_file(tmp_path))).returncode == 0
    arguments = ["adjust", "extend", "CR-MI0001", "--customer", "1234567@aruba.it"]
    arguments += ["--operator", "ops@example.it", "--reason", "ticket 42", *dates]

    result = run(tmp_path, *arguments)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in {1, 2}
    assert result.stderr.startswith("residuo: error: ")
    statement = run(tmp_path, "statement", "1234567@aruba.it", "--json")
    memos = [each["memo"] for each in json.loads(statement.stdout)["entries"]]
    assert not any("ticket 42" in memo for memo in memos)


def test_attack9_a_database_password_given_as_a_query_parameter_is_not_printed(
    tmp_path: Path,
) -> None:
    """libpq takes the password as a URL query parameter too (``?password=…``, the
    usual way round a password full of URL syntax); ``residuo``'s "cannot use the
    database" line hides only the ``user:password@`` form. Observed:
    ``residuo: error: cannot use the database
    postgresql+psycopg://residuo@127.0.0.1:1/residuo?password=hunter2: …``."""
    url = "postgresql+psycopg://residuo@127.0.0.1:1/residuo?password=hunter2"

    result = run_with(tmp_path, "RESIDUO_DATABASE_URL", url)

    assert result.stderr.startswith("residuo: error: cannot use the database")
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ["balance", "1234567@aruba.it", "--as-of", "9999-12-31T23:00:00+00:00"],
        ["balance", "1234567@aruba.it", "--as-of", "0001-01-01T00:00:00+05:00"],
        ["statement", "1234567@aruba.it", "--known-at", "9999-12-31T23:00:00-05:00"],
        ["sweep", "expiry", "--as-of", "0001-01-01T00:00:00+05:00"],
        ["report", "breakage", "--month", "9999-12"],
        ["report", "breakage", "--month", "0001-01"],
        ["report", "liability", "--as-of", "0001-01-01T00:00:00+05:00"],
    ],
    ids=lambda arguments: "-".join(arguments[:1] + arguments[-1:]),
)
def test_attack9_an_instant_at_the_end_of_the_calendar_is_a_one_line_error(
    tmp_path: Path, arguments: list[str]
) -> None:
    """Observed: ``OverflowError: date value out of range`` (SQLAlchemy
    ``StatementError``) and ``ValueError: year 10000 is out of range`` tracebacks."""
    assert run(tmp_path, "replay", str(write_replay_file(tmp_path))).returncode == 0

    result = run(tmp_path, *arguments)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in {1, 2}
    assert result.stderr.startswith("residuo: error: ")
