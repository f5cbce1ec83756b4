"""attack13: what an operator can mistype on `residuo health` and the other verbs,
against docs/cli.md: "Errors are one line on stderr, `residuo: error: …`, with exit
status 2 for a bad invocation or input … and 1 for an environment that does not
work"; docs/settings.md: passwords are "masked in every URL residuo prints", and
nothing "shaped like a password (`user:…@`…)" is shown.

Each test fails on the code it was written against; the docstrings say what was
observed and what is expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from e2e.test_cli import run

pytestmark = pytest.mark.e2e

# Nothing listens on port 1: every check below fails to connect, as it should.
NOWHERE = "http://127.0.0.1:1/metrics"


@pytest.mark.parametrize("timeout", ["inf", "1e300"])
def test_attack13_health_with_a_huge_timeout_is_a_one_line_error(
    tmp_path: Path, timeout: str
) -> None:
    """An operator who means "wait as long as it takes" passes `--timeout inf` (or a
    huge number) to `residuo health`; the option's only bound is `min=0.1`.

    Observed: a Python traceback ending `OverflowError: timestamp out of range for
    platform time_t` (from `socket.settimeout`), exit status 1. Expected: the usual
    one line (`residuo: error: …`: the timeout cannot be used, or no answer), no
    traceback."""
    result = run(tmp_path, "health", "--metrics-url", NOWHERE, "--timeout", timeout)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("residuo: error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("timeout", ["inf", "1e300"])
def test_attack13_the_compose_healthcheck_with_a_huge_timeout_is_one_line(
    tmp_path: Path, timeout: str
) -> None:
    """`python -m residuo.health` is "the same check", the one the compose
    healthchecks run; its docstring promises "one line on stderr saying which".

    Observed: the same `OverflowError` traceback. Expected: one line, exit status 1."""
    result = subprocess.run(
        [sys.executable, "-m", "residuo.health", "--metrics-url", NOWHERE, "--timeout", timeout],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_attack13_health_never_prints_the_password_of_its_metrics_url(tmp_path: Path) -> None:
    """A metrics endpoint behind a proxy with basic authentication is checked with
    `--metrics-url http://user:PASSWORD@host/metrics`. Every other verb masks a URL's
    password (`amqp://guest:***@…`, residuo.connection_urls.shown_url).

    Observed: `residuo: error: no answer from http://monitor:hunter2@127.0.0.1:1/metrics:
    …`: the password lands in the terminal, the compose healthcheck's log and `docker
    inspect`. Expected: the URL shown with its password masked."""
    result = run(tmp_path, "health", "--metrics-url", "http://monitor:hunter2@127.0.0.1:1/metrics")

    assert result.returncode == 1
    assert result.stderr.startswith("residuo: error: "), result.stderr
    assert "hunter2" not in result.stderr, result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(["migrate", "--wait", "nan"], id="migrate-wait-nan"),
        pytest.param(["migrate", "--wait", "-1"], id="migrate-wait-negative"),
        pytest.param(["dead-letters", "list", "--limit", "0"], id="list-limit-0"),
        pytest.param(["health", "--metrics-url", NOWHERE, "--timeout", "0"], id="timeout-0"),
    ],
)
def test_attack13_a_bad_option_value_is_a_one_line_error(
    tmp_path: Path, arguments: list[str]
) -> None:
    """docs/cli.md: a bad invocation is one line, `residuo: error: …`, exit status 2;
    `residuo migrate --wait SECONDS` is the compose stack's first step, where a typo
    in the value is read in `docker compose logs`.

    Observed: exit status 2, but a usage line, a "Try 'residuo … --help'" line and a
    framed box of six lines (Typer's rich error panel), no `residuo: error:` prefix:
    what log alerts and operators grep for is missing. Expected: one line
    `residuo: error: …` naming the option, exit status 2."""
    result = run(tmp_path, *arguments)

    assert result.returncode == 2
    assert result.stderr.startswith("residuo: error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
