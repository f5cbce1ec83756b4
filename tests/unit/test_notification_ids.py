"""Notification ids are a contract: a re-run sweep or a re-delivered event must name
a notification exactly as before, whatever writes the UUID and the cause."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from ledger.outbox import NOTIFICATION_NAMESPACE, notification_id, retold_id
from ledger.sweeps import _reminder_cause

# Causes as the ledger makes them, and any text besides: accents, other scripts,
# emoji, separators and controls.
causes = st.text(st.characters(exclude_categories=["Cs"]), max_size=80) | st.sampled_from(
    ["CR-MI0001", "MI0001|2027-03-20T09:00:00Z|7", "pay-1|told|2", "cliente-città", "客户-1"]
)


def test_an_id_given_before_is_given_again() -> None:
    """An id published by an earlier release, pinned."""
    assert (
        notification_id("credit.expiring_soon", "CR-MI0001|2027-03-20T09:00:00Z|7")
        == "551ea319-b9e6-52fe-86a8-925c198b71e7"
    )


@given(st.sampled_from(["credit.granted", "credit.expiring_soon", "hold.released"]), causes)
def test_an_id_is_the_standard_uuid5_of_type_and_cause(kind: str, cause: str) -> None:
    """RFC 9562's UUIDv5 of ``type|cause`` in residuo's namespace, as Python's
    ``uuid.uuid5`` writes it."""
    expected = str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{kind}|{cause}"))
    assert notification_id(kind, cause) == expected


@given(causes, st.integers(1, 10**6))
def test_a_retold_id_is_the_standard_uuid5_of_its_telling(rule_key: str, tellings: int) -> None:
    """A telling's id is the UUIDv5 of ``rule_key|told|n``."""
    expected = str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{rule_key}|told|{tellings}"))
    assert retold_id(rule_key, tellings) == expected


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, ZoneInfo("Europe/Rome"), timezone(timedelta(hours=13, minutes=45))]
        ),
    ),
    st.integers(0, 400),
)
def test_a_reminder_cause_spells_its_deadline_as_before(
    deadline: datetime, days_before: int
) -> None:
    """The subject, the deadline in UTC to the second and the offset, as the first
    release spelled them with ``strftime`` (glibc: the year not padded below 1000)."""
    before = f"CR-1|{deadline.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}|{days_before}"
    assert _reminder_cause("CR-1", deadline, days_before) == before


def test_a_reminder_cause_of_a_deadline_of_year_999() -> None:
    """Microseconds left out, the year as it is written."""
    deadline = datetime(999, 5, 6, 7, 8, 9, 999_999, tzinfo=UTC)
    assert _reminder_cause("MI-7", deadline, 30) == "MI-7|999-05-06T07:08:09Z|30"
