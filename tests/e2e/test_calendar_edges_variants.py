"""Variants of attack9's #9 and #10 and attack10's report finding: instants an operator
types at the edges, as a process runs them (SQLite, no servers).

* ``adjust`` holds every instant to the window inbound events must fit
  (``RESIDUO_EVENT_TIME_EARLIEST``, ``RESIDUO_EVENT_TIME_LATEST``), its end excluded:
  one line, exit status 2, nothing booked.
* Instants past the calendar's last representable one, read in a zone far behind
  UTC, are one line; the last whole month the calendar holds is still reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e.test_cli import run, write_replay_file

pytestmark = pytest.mark.e2e

CREDIT = ["CR-MI0001", "--customer", "1234567@aruba.it"]
SIGNED = ["--operator", "ops@example.it", "--reason", "ticket 43"]
UNTIL_2150 = ["--until", "2150-01-01T00:00:00+00:00"]


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(
            ["goodwill", "1234567@aruba.it", "--amount", "5.00", *SIGNED, *UNTIL_2150],
            id="goodwill-until-2150",
        ),
        pytest.param(
            ["void", *CREDIT, "--amount", "1.00", *SIGNED, "--at", "2100-01-01T00:00:00+00:00"],
            id="void-at-the-windows-excluded-end",
        ),
    ],
)
def test_an_adjustment_outside_the_event_window_is_refused_in_one_line(
    tmp_path: Path, arguments: list[str]
) -> None:
    """A goodwill credit expiring in 2150 (inside the calendar, outside the default
    window [2000, 2100)) and a void at 2100-01-01 exactly (the end is excluded)."""
    assert run(tmp_path, "replay", str(write_replay_file(tmp_path))).returncode == 0

    result = run(tmp_path, "adjust", *arguments)

    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("residuo: error: refused, nothing booked: ")
    assert "RESIDUO_EVENT_TIME_LATEST" in line
    statement = run(tmp_path, "statement", "1234567@aruba.it", "--json")
    memos = [each["memo"] for each in json.loads(statement.stdout)["entries"]]
    assert not any("ticket 43" in memo for memo in memos)


def test_an_instant_past_the_last_one_in_a_zone_behind_utc_is_one_line(tmp_path: Path) -> None:
    """9999-12-30 12:00 at UTC-13 is 9999-12-31 01:00 in UTC: past the last instant a
    calculation can start from (its expiries and the business zone's reading would
    leave the calendar)."""
    assert run(tmp_path, "replay", str(write_replay_file(tmp_path))).returncode == 0

    result = run(tmp_path, "balance", "1234567@aruba.it", "--as-of", "9999-12-30T12:00:00-13:00")

    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("residuo: error: --as-of 9999-12-30T12:00:00-13:00 is outside")


def test_the_last_whole_month_the_calendar_holds_is_reported(tmp_path: Path) -> None:
    """Not refused for being near the end: November 9999 starts and ends inside the
    calendar, so its breakage is reported (none)."""
    assert run(tmp_path, "replay", str(write_replay_file(tmp_path))).returncode == 0

    result = run(tmp_path, "report", "breakage", "--month", "9999-11", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["month"] == "9999-11"
