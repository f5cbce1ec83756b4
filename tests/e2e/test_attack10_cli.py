"""Attack on issue 10: `residuo report` as a user runs it, at the edges of the
calendar. A process, its output and its exit status; SQLite, no servers.

Fails on the code it was written against; the docstring says what was observed and
what is expected."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from e2e.test_cli import run
from e2e.test_migrate_wait import migrate
from servers import PostgresServer
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "arguments",
    [
        ("report", "breakage", "--month", "9999-12"),
        ("report", "breakage", "--month", "0000-01"),
        ("report", "liability", "--as-of", "9999-12-31T23:30:00+00:00"),
    ],
)
def test_attack10_a_report_outside_the_calendar_is_a_one_line_error(
    tmp_path: Path, arguments: tuple[str, ...]
) -> None:
    """docs/cli.md: "Errors are one line on stderr, `residuo: error: …`, with exit
    status 2 for a bad invocation or input".

    Observed: `--month 9999-12` passes the YYYY-MM check and ends in a traceback
    (`ValueError: year 10000 is out of range`, building the month's end), `0000-01`
    likewise (`year 0 is out of range`), and `report liability --as-of
    9999-12-31T23:30:00+00:00` in `OverflowError: date value out of range` (read in
    Europe/Rome it is year 10000). Expected: one line, exit status 2."""
    result = run(tmp_path, *arguments)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("residuo: error:"), result.stderr
    assert "Traceback" not in result.stderr


def test_attack10_migrate_wait_gives_up_at_once_on_credentials_the_server_refuses(
    postgres_server: PostgresServer,
) -> None:
    """docs/cli.md: `--wait SECONDS` "retries a database that cannot be reached yet
    (refusing connections, still creating the database)". The compose stack runs
    `migrate --wait 120` with the user and password of `.env`; a password changed in
    `.env` after PostgreSQL's volume was initialised is refused for good.

    Observed: `FATAL: role "…" does not exist` (and `password authentication failed`
    alike) is taken for "not reachable yet (…); retrying in 0.5 s", for the whole wait:
    two minutes of a stack that looks like it is starting, then the same error.
    Expected: an authentication failure ends the wait at once, saying so."""
    url = (
        make_url(postgres_server.url)
        .set(username=f"nobody_{uuid4().hex[:8]}", password="wrong")
        .render_as_string(hide_password=False)
    )
    process = migrate(url, "--wait", "5")
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 1, stderr
    assert "retrying" not in stderr
