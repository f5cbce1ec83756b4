"""The database and broker URLs: a password is masked wherever it sits (``user:password@``
or a ``?password=`` / ``?sslpassword=`` parameter), in printed URLs and in logs, and a
URL that cannot be used is refused at start-up without repeating it."""

import os

import pytest
import typer

from residuo.cli_support import load_settings
from residuo.connection_urls import shown_url, url_secrets
from residuo.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [each for each in os.environ if each.startswith("RESIDUO_")]:
        monkeypatch.delenv(name)


def test_an_ssl_key_password_given_as_a_parameter_is_masked_when_printed() -> None:
    """attack9 #7 showed ``?password=``; libpq's ``sslpassword`` (the client key's
    passphrase) is as secret, and the other parameters stay readable."""
    url = "postgresql+psycopg://residuo@db:5432/residuo?sslmode=verify-full&sslpassword=k3y-pass"

    shown = shown_url(url)

    assert "k3y-pass" not in shown
    assert "sslpassword=" in shown
    assert "sslmode=verify-full" in shown


def test_every_node_of_a_broker_cluster_is_masked() -> None:
    """A cluster's URL lists its nodes with ``;``: each node's password is masked."""
    url = "amqp://residuo:n0de-one@rabbit-1:5672/%2F;amqp://residuo:n0de-two@rabbit-2:5672/%2F"

    shown = shown_url(url)

    assert "n0de-one" not in shown
    assert "n0de-two" not in shown
    assert shown.count("rabbit-") == 2


def test_a_percent_encoded_password_parameter_is_a_secret_as_written_and_decoded() -> None:
    """A log line may carry either spelling: both are masked."""
    secrets = set(url_secrets("postgresql://residuo@db/residuo?password=p%40ss%3Bword"))

    assert secrets == {"p%40ss%3Bword", "p@ss;word"}


def test_the_log_scrubber_is_given_a_broker_password_given_as_a_parameter() -> None:
    """``Settings.secrets`` feeds the log scrubber: a password in the query of the
    broker's or the management API's URL is among them."""
    settings = Settings(
        broker_url="amqp://residuo@rabbit:5672/%2F?password=br0ker",
        broker_management_url="http://residuo:m4nage@rabbit:15672/",
    )

    assert {"br0ker", "m4nage"} <= set(settings.secrets)


@pytest.mark.parametrize(
    ("variable", "url", "expected"),
    [
        ("RESIDUO_DATABASE_URL", "oracle://scott:tig3r@db/orcl", "SQLite or PostgreSQL"),
        ("RESIDUO_DATABASE_URL", "postgresql://residuo:tig3r@db:54x2/residuo", "port"),
        (
            "RESIDUO_BROKER_URL",
            "amqp://guest:tig3r@rabbit-1:5672/;amqp://guest:tig3r@rabbit-2:x/",
            "port",
        ),
        ("RESIDUO_BROKER_MANAGEMENT_URL", "http://guest:tig3r@[rabbit:15672/", "host"),
    ],
)
def test_an_unusable_url_is_one_line_that_does_not_repeat_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    url: str,
    expected: str,
) -> None:
    """Variants of attack9 #8: an unsupported backend, a port that is not a number (on
    the second node of a cluster too), an unclosed IPv6 bracket in the management
    API's URL. Refused when the settings load, in one line naming the setting and the
    problem, never the password."""
    monkeypatch.setenv(variable, url)

    with pytest.raises(typer.Exit) as stopped:
        load_settings()

    assert stopped.value.exit_code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"residuo: error: invalid settings: {variable}: ")
    assert expected in line
    assert "tig3r" not in line
