"""attack9: settings an operator can get wrong end ``residuo`` with a Python traceback
instead of the one-line ``residuo: error: …`` every other bad setting gets (issue 9:
"settings that crash at startup with a traceback instead of a one-line error").

Observed: ``sqlalchemy.exc.ArgumentError``, ``ValueError: Invalid IPv6 URL``,
``ValueError: Port could not be cast…``, ``ModuleNotFoundError: No module named
'MySQLdb'``, ``pydantic_settings.exceptions.SettingsError`` tracebacks.
"""

import os

import pytest
from typer.testing import CliRunner

from residuo.cli import app


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    for name in [each for each in os.environ if each.startswith("RESIDUO_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


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
def test_attack9_a_bad_setting_is_a_one_line_error(variable: str, value: str) -> None:
    result = CliRunner().invoke(app, ["balance", "1234567@aruba.it"], env={variable: value})

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in {1, 2}
    assert result.output.startswith("residuo: error: ")
    assert "hunter2" not in result.output
