"""attack11: too-late events leave ``credit_available`` below zero at a business instant.

Found by an attack11 property (the attack8 stream, delays up to twice the allowed
lateness, seed 30899036559851825361484742936348429055; it could not shrink in five
minutes). The stream below is the failing example as it arrived, with the daily
``all`` sweep at 04:30 (policy of the late-delivery property: one-month validity,
12-day SPID window, 6-day holds, 4 days' lateness); some events arrive later than
the allowed lateness.

docs/late-evidence.md: an event older than the settled horizon is placed there, and
"what it spends ... is booked at the horizon too ... it must not be booked earlier,
where the credit it spends may not have been available (R11 at every instant)".
Today the journal read by effective time shows ``credit_available`` of
3333333@aruba.it at -10.00 on 6 February 2026.
"""

import json
from datetime import datetime, timedelta
from typing import Any

from properties.test_late_delivery import POLICY, START
from scenarios.kit import Books, assert_books_never_negative_in_business_time
from sqlalchemy import Engine

from messages import parse_inbound

_TIME_OF = {
    "payment.received": "paid_at",
    "activation.completed": "activated_at",
    "activation.failed": "failed_at",
    "credit.requested": "requested_at",
}

# (arrival "MM-DD HH:MM" in Rome, event id, type, data), in the order they arrived.
ARRIVALS: list[list[Any]] = [
    [
        "01-05 04:31",
        "evt-04909",
        "payment.received",
        {
            "order_id": "MI0002",
            "customer_id": "2222222@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-05T04:31:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-05 06:31",
        "evt-04910",
        "payment.received",
        {
            "order_id": "MI0002",
            "customer_id": "2222222@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-05T06:31:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-05 06:56",
        "evt-04922",
        "credit.requested",
        {
            "request_id": "RF0010",
            "customer_id": "3333333@aruba.it",
            "action": "refund",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-05T06:56:00+01:00",
        },
    ],
    [
        "01-05 08:31",
        "evt-04911",
        "activation.failed",
        {
            "order_id": "MI0002",
            "failed_at": "2026-01-05T08:31:00+01:00",
            "reason": "provisioning error",
        },
    ],
    [
        "01-05 12:28",
        "evt-04923",
        "credit.requested",
        {
            "request_id": "RF0011",
            "customer_id": "3333333@aruba.it",
            "action": "refund",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-05T12:28:00+01:00",
        },
    ],
    [
        "01-05 14:30",
        "evt-04912",
        "payment.received",
        {
            "order_id": "MI0003",
            "customer_id": "3333333@aruba.it",
            "service": "spid",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-05T14:30:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-05 14:30",
        "evt-04914",
        "payment.received",
        {
            "order_id": "MI0004",
            "customer_id": "3333333@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-05T14:30:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-05 23:30",
        "evt-04913",
        "payment.received",
        {
            "order_id": "MI0003",
            "customer_id": "3333333@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-05T23:30:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-06 07:41",
        "evt-04915",
        "payment.received",
        {
            "order_id": "MI0005",
            "customer_id": "3333333@aruba.it",
            "service": "spid",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-06T07:41:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-08 14:30",
        "evt-04916",
        "credit.requested",
        {
            "request_id": "RQ0006",
            "customer_id": "3333333@aruba.it",
            "action": "transfer",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-08T14:30:00+01:00",
            "new_order": {
                "order_id": "NO0007",
                "amount": "5.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "hosting",
            },
        },
    ],
    [
        "01-09 10:30",
        "evt-04919",
        "activation.completed",
        {"order_id": "NO0007", "activated_at": "2026-01-09T10:30:00+01:00"},
    ],
    [
        "01-10 17:09",
        "evt-04907",
        "payment.received",
        {
            "order_id": "MI0001",
            "customer_id": "1111111@aruba.it",
            "service": "spid",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-10T17:09:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-12 06:30",
        "evt-04918",
        "payment.received",
        {
            "order_id": "NO0007",
            "customer_id": "3333333@aruba.it",
            "service": "hosting",
            "amount": "30.00",
            "currency": "EUR",
            "paid_at": "2026-01-12T06:30:00+01:00",
            "method": "bonifico",
            "reference": "integrazione NO0007",
        },
    ],
    [
        "01-15 14:30",
        "evt-04917",
        "payment.received",
        {
            "order_id": "NO0007",
            "customer_id": "3333333@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-15T14:30:00+01:00",
            "method": "bollettino",
            "reference": "integrazione NO0007",
        },
    ],
    [
        "01-16 09:09",
        "evt-04908",
        "activation.failed",
        {
            "order_id": "MI0001",
            "failed_at": "2026-01-16T09:09:00+01:00",
            "reason": "provisioning error",
        },
    ],
    [
        "02-10 14:30",
        "evt-04920",
        "credit.requested",
        {
            "request_id": "RQ0008",
            "customer_id": "3333333@aruba.it",
            "action": "transfer",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-02-10T14:30:00+01:00",
            "new_order": {
                "order_id": "MI0004",
                "amount": "5.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "hosting",
            },
            "credit_ids": ["CR-MI0001"],
        },
    ],
    [
        "02-14 04:30",
        "evt-04921",
        "activation.failed",
        {
            "order_id": "MI0004",
            "failed_at": "2026-02-14T04:30:00+01:00",
            "reason": "provisioning error",
        },
    ],
]


def _arrival(text: str) -> datetime:
    month, rest = text.split("-")
    day, clock = rest.split(" ")
    hour, minute = clock.split(":")
    return START.replace(month=int(month), day=int(day), hour=int(hour), minute=int(minute))


def test_too_late_events_keep_every_account_whole_in_business_time(engine: Engine) -> None:
    """Delivered as they arrived, with each day's sweep: the journal read by effective
    time never shows an account below zero."""
    books = Books(engine, POLICY)
    lines: list[tuple[datetime, int, object]] = []
    for index, (arrived, event_id, event_type, data) in enumerate(ARRIVALS):
        body = {
            "specversion": "1.0",
            "id": event_id,
            "source": "billing",
            "type": event_type,
            "time": data[_TIME_OF[event_type]],
            "data": data,
        }
        lines.append((_arrival(arrived), index, parse_inbound(json.dumps(body).encode())))
    for day in range(1, 51):
        lines.append((START + timedelta(days=day), 10_000 + day, START + timedelta(days=day)))
    for _, _, line in sorted(lines, key=lambda each: (each[0], each[1])):
        if isinstance(line, datetime):
            books.sweep("all", line)
        else:
            books.record_one(line)  # type: ignore[arg-type]

    assert_books_never_negative_in_business_time(engine)
