"""A sweep's ``as_of`` is an instant, however a caller of ``Ledger.sweep`` spells it (a
replay's sweep line, ``residuo sweep --as-of``, the Python API): what ``sweep.completed``
says and how often it is said depend on the instant alone (found by review, after the
calendar learned to read a reading in the spring-forward gap through UTC)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from scenarios.kit import Books

ROME = ZoneInfo("Europe/Rome")


def test_a_sweep_spelled_in_the_spring_gap_tells_its_as_of_as_the_clocks_showed_it(
    ledger: Books,
) -> None:
    """02:30 on 29 March 2026 does not exist in Rome; Python reads it with CET's offset,
    the instant 01:30 UTC, when Rome's clocks showed 03:30 CEST. ``sweep.completed``
    shows that reading, as for the instant spelled in UTC, never a 02:30 that Rome's
    clocks skipped."""
    ledger.sweep("expiry", datetime(2026, 3, 29, 2, 30, tzinfo=ROME))

    [completed] = ledger.notifications("sweep.completed")
    assert completed.data["as_of"] == "2026-03-29T03:30:00+02:00"
    assert completed.time == "2026-03-29T03:30:00+02:00"


def test_a_sweep_run_again_at_the_same_instant_otherwise_spelled_is_completed_once(
    ledger: Books,
) -> None:
    """``sweep.completed`` comes once per kind and ``as_of``: the same sweep run again at
    the same instant, spelled with Rome's offset rather than UTC's, says nothing new."""
    ledger.sweep("expiry", datetime(2026, 1, 10, 0, tzinfo=UTC))
    ledger.sweep("expiry", datetime(2026, 1, 10, 1, tzinfo=ROME))

    assert len(ledger.notifications("sweep.completed")) == 1
