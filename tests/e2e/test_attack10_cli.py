"""Attack on issue 10: `residuo report` as a user runs it, at the edges of the
calendar. A process, its output and its exit status; SQLite, no servers.

Fails on the code it was written against; the docstring says what was observed and
what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e.test_cli import run

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
