"""`notification_payload`: the outbox's JSON text of a notification, built without the
envelope model, is exactly the text of the validated envelope (`notification_envelope`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st
from pydantic import ValidationError
from unit.test_messages_notifications import CUSTOMER, SAMPLES

from ledger.outbox import notification_id, outbox_row
from messages import (
    CreditExpired,
    CreditExpiringSoon,
    CreditGranted,
    HoldReleased,
    NotificationData,
    PaymentUnmatched,
    SpidDeadlineApproaching,
    SpidOrderCancelled,
    SweepCompleted,
    notification_envelope,
    notification_payload,
    parse_notification,
)

ROME = ZoneInfo("Europe/Rome")
# Summer and winter time in Rome, UTC (which pydantic writes as Z), an odd offset and
# an instant with microseconds.
INSTANTS = [
    datetime(2026, 2, 1, 9, 0, tzinfo=ROME),
    datetime(2026, 7, 1, 23, 59, 59, tzinfo=ROME),
    datetime(2027, 3, 1, 3, 30, tzinfo=UTC),
    datetime(2026, 2, 1, 9, 0, tzinfo=timezone(timedelta(hours=5, minutes=45))),
    datetime(2026, 2, 1, 9, 0, 0, 120_000, tzinfo=ROME),
]
NOTIFICATION_ID = "4f1c2d9e-3b1a-5c7d-9e8f-0a1b2c3d4e5f"


def _reference(data: NotificationData, time: datetime) -> str:
    """The outbox text as it was built before: through the envelope model."""
    envelope = notification_envelope(data, id=NOTIFICATION_ID, time=time)
    return json.dumps(envelope, separators=(",", ":"))


@pytest.mark.parametrize("time", INSTANTS, ids=str)
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.TYPE)
def test_every_notification_type_is_written_as_its_envelope(
    sample: NotificationData, time: datetime
) -> None:
    """Same attributes in the same order, same data, same text, for every type."""
    assert notification_payload(sample, id=NOTIFICATION_ID, time=time) == _reference(sample, time)


def test_a_naive_time_is_refused_as_by_the_envelope() -> None:
    """A naive instant is a programming error here too, reported the same way."""
    with pytest.raises(ValidationError, match="timezone"):
        notification_payload(SAMPLES[0], id=NOTIFICATION_ID, time=datetime(2026, 2, 1, 9))


def test_the_outbox_row_carries_the_payload_and_its_ids() -> None:
    """`outbox_row` stores the payload under the id its cause gives, kept as rule key."""
    data = SAMPLES[0]
    row = outbox_row(data, cause="CR-1", time=INSTANTS[0], recorded_at=INSTANTS[2], derived=True)
    expected_id = notification_id(data.TYPE, "CR-1")

    assert (row["notification_id"], row["rule_key"]) == (expected_id, expected_id)
    envelope = notification_envelope(data, id=expected_id, time=INSTANTS[0])
    assert row["payload"] == json.dumps(envelope, separators=(",", ":"))
    assert parse_notification(row["payload"]) == (data.TYPE, data)


amounts = st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2)
positive_amounts = amounts.filter(lambda amount: amount > 0)
# Wall times a DST change skips do not exist; the ledger's instants always do.
instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [ROME, UTC, ZoneInfo("America/St_Johns"), timezone(timedelta(hours=-3))]
    ),
    allow_imaginary=False,
)
# Accents, other scripts, emoji, quotes and backslashes: what json.dumps escapes.
texts = st.text(
    alphabet=st.sampled_from(
        "aZ09 -_.@:|àèéìòùçß€£ñöüøœ日本語한국어Ελληνικάкириллица😀🇮🇹\"\\/'<>&"
        # Controls, DEL (which json.dumps escapes and Rust's writers do not) and
        # the line separators.
        "\x00\x1f\n\t\x7f\u2028"
    ),
    min_size=1,
    max_size=40,
)


def _built(factory: type[NotificationData], **fields: object) -> NotificationData:
    try:
        return factory.model_validate(fields)
    except ValidationError:
        reject()


@st.composite
def swept_notifications(draw: st.DrawFn) -> NotificationData:
    """Any notification a sweep queues, with drawn amounts, instants and text."""
    customer = draw(st.sampled_from([CUSTOMER, "cliente-città@esempio.it", "客户-1"]))
    kind = draw(st.sampled_from(range(8)))
    if kind == 0:
        return _built(
            SpidOrderCancelled,
            customer_id=customer,
            order_id="MI0001",
            paid_at=draw(instants),
            cancelled_at=draw(instants),
            credit_id="CR-MI0001",
            amount=draw(positive_amounts),
            expires_at=draw(instants),
        )
    if kind == 1:
        return _built(
            CreditGranted,
            customer_id=customer,
            credit_id="CR-MI0001",
            origin="spid_timeout",
            source_order_id="MI0001",
            amount=draw(positive_amounts),
            expires_at=draw(instants),
            refundable=draw(st.booleans()),
        )
    if kind == 2:
        return _built(
            CreditExpired,
            customer_id=customer,
            credit_id="CR-MI0001",
            forfeited=draw(amounts),
            expired_at=draw(instants),
        )
    if kind == 3:
        return _built(
            HoldReleased,
            customer_id=customer,
            order_id="MI0002",
            released=draw(amounts),
            forfeited=draw(amounts),
        )
    if kind == 4:
        return _built(
            PaymentUnmatched,
            customer_id=customer,
            order_id="MI0002",
            event_id=draw(texts),
            amount=draw(positive_amounts),
            reason="hold_lapsed",
            detail=draw(texts),
        )
    if kind == 5:
        return _built(
            CreditExpiringSoon,
            customer_id=customer,
            credit_id="CR-MI0001",
            remaining=draw(positive_amounts),
            expires_at=draw(instants),
            days_left=draw(st.integers(0, 400)),
        )
    if kind == 6:
        return _built(
            SpidDeadlineApproaching,
            customer_id=customer,
            order_id="MI0001",
            deadline=draw(instants),
            days_left=draw(st.integers(0, 400)),
        )
    return _built(
        SweepCompleted,
        kind=draw(st.sampled_from(["expiry", "spid_timeout", "reminders", "holds"])),
        as_of=draw(instants),
        counts=draw(st.dictionaries(texts, st.integers(0, 10**9), max_size=3)),
        amounts=draw(st.dictionaries(texts, amounts, max_size=3)),
    )


@given(data=swept_notifications(), time=instants)
def test_a_swept_notification_is_written_as_its_envelope(
    data: NotificationData, time: datetime
) -> None:
    """Decimal amounts, local-time instants and non-ASCII text come out as the
    envelope model writes them, and read back as the same notification."""
    payload = notification_payload(data, id=NOTIFICATION_ID, time=time)

    assert payload == _reference(data, time)
    # Compared as written: an instant in a DST fold is the same instant read back with
    # its offset, which Python's == does not always say across time zones.
    read_type, read_data = parse_notification(payload)
    assert (read_type, read_data.model_dump(mode="json")) == (
        data.TYPE,
        data.model_dump(mode="json"),
    )


@pytest.mark.parametrize(
    "detail",
    ["DEL \x7f here", "città", "\x7f and città", "tab\tnewline\nnul\x00", "plain"],
    ids=["del", "non-ascii", "both", "controls", "ascii"],
)
def test_text_the_fast_writers_spell_otherwise_is_written_as_the_envelope(detail: str) -> None:
    """DEL and non-ASCII text, which orjson and pydantic write raw, come out escaped
    as `json.dumps` escapes them; controls as it spells them."""
    data = PaymentUnmatched(
        customer_id=CUSTOMER,
        order_id="MI0002",
        event_id="pay-1",
        amount=Decimal("10.00"),
        reason="hold_lapsed",
        detail=detail,
    )
    payload = notification_payload(data, id=NOTIFICATION_ID, time=INSTANTS[0])
    assert payload == _reference(data, INSTANTS[0])
    assert payload.isascii()


def test_one_instant_in_two_offsets_is_spelled_in_each() -> None:
    """The envelope's `time` keeps the offset it was given: the same instant given in
    UTC, then in Rome, then in UTC again, is spelled three times as given."""
    data = SAMPLES[0]
    in_utc = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # 02:30 in Rome twice that night: summer time (fold 0), then winter time (fold 1).
    summer = datetime(2026, 10, 25, 2, 30, tzinfo=ROME)
    winter = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ROME)
    for time in (in_utc, summer, winter, in_utc.astimezone(ROME), summer, in_utc):
        payload = notification_payload(data, id=NOTIFICATION_ID, time=time)
        assert payload == _reference(data, time)
    assert '"time":"2026-10-25T02:30:00+02:00"' in notification_payload(
        data, id=NOTIFICATION_ID, time=summer
    )
    assert '"time":"2026-10-25T02:30:00+01:00"' in notification_payload(
        data, id=NOTIFICATION_ID, time=winter
    )
