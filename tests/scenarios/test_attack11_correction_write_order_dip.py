"""attack11: a correction written in an order that leaves ``credit_available`` below zero.

Found by ``tests/properties/test_attack8_late_delivery.py`` run with ``A8_DAYS=100
RESIDUO_HYPOTHESIS_EXAMPLES=150`` (seed 102107133385927171596174603193049914077; it
could not shrink in five minutes). The stream below is the failing example as it
arrived: three customers' payments, failures, transfers (one naming ``credit_ids`` of
another customer's order), top-ups, refunds, each arriving within the allowed
lateness, with the daily ``all`` sweep at 04:30 (policy of the late-delivery
property: one-month validity, 12-day SPID window, 6-day holds, 4 days' lateness).

docs/late-evidence.md and SPEC R11: corrections are "written in an order that leaves
no account below zero between two of them" (``ledger/corrections/write_order.py``);
``assert_books_balance`` replays the journal in the order written. Today
``credit_available`` of 1111111@aruba.it stands at -10.00 after entry 17.
"""

import json
from datetime import datetime, timedelta
from typing import Any

from properties.test_late_delivery import POLICY, START
from scenarios.kit import Books, assert_books_balance
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
        "01-03 15:30",
        "evt-00888",
        "payment.received",
        {
            "order_id": "MI0002",
            "customer_id": "1111111@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-03T15:30:00+01:00",
            "method": "bollettino",
            "reference": "integrazione MI0002",
        },
    ],
    [
        "01-05 07:50",
        "evt-00901",
        "payment.received",
        {
            "order_id": "MI0015",
            "customer_id": "3333333@aruba.it",
            "service": "spid",
            "amount": "49.90",
            "currency": "EUR",
            "paid_at": "2026-01-05T07:50:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-05 14:30",
        "evt-00877",
        "payment.received",
        {
            "order_id": "MI0001",
            "customer_id": "1111111@aruba.it",
            "service": "spid",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-05T14:30:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-06 08:36",
        "evt-00886",
        "credit.requested",
        {
            "request_id": "RQ0006",
            "customer_id": "1111111@aruba.it",
            "action": "transfer",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-05T14:30:00+01:00",
            "new_order": {
                "order_id": "MI0002",
                "amount": "20.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "hosting",
            },
        },
    ],
    [
        "01-08 13:10",
        "evt-00881",
        "payment.received",
        {
            "order_id": "MI0003",
            "customer_id": "1111111@aruba.it",
            "service": "spid",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-08T13:10:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-09 07:25",
        "evt-00891",
        "credit.requested",
        {
            "request_id": "RF0009",
            "customer_id": "1111111@aruba.it",
            "action": "refund",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-05T07:26:00+01:00",
        },
    ],
    [
        "01-09 07:30",
        "evt-00878",
        "activation.completed",
        {"order_id": "MI0001", "activated_at": "2026-01-09T07:30:00+01:00"},
    ],
    [
        "01-10 12:16",
        "evt-00894",
        "credit.requested",
        {
            "request_id": "RQ0011",
            "customer_id": "2222222@aruba.it",
            "action": "transfer",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-08T14:30:00+01:00",
            "new_order": {
                "order_id": "NO0012",
                "amount": "5.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "hosting",
            },
        },
    ],
    [
        "01-10 21:38",
        "evt-00895",
        "payment.received",
        {
            "order_id": "NO0012",
            "customer_id": "2222222@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-10T20:30:00+01:00",
            "method": "bollettino",
            "reference": "integrazione NO0012",
        },
    ],
    [
        "01-12 20:30",
        "evt-00889",
        "activation.failed",
        {
            "order_id": "MI0002",
            "failed_at": "2026-01-12T20:30:00+01:00",
            "reason": "provisioning error",
        },
    ],
    [
        "01-12 21:14",
        "evt-00911",
        "credit.requested",
        {
            "request_id": "RF0021",
            "customer_id": "3333333@aruba.it",
            "action": "refund",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-12T03:44:00+01:00",
        },
    ],
    [
        "01-13 03:30",
        "evt-00887",
        "payment.received",
        {
            "order_id": "MI0002",
            "customer_id": "1111111@aruba.it",
            "service": "hosting",
            "amount": "3.00",
            "currency": "EUR",
            "paid_at": "2026-01-13T03:30:00+01:00",
            "method": "bollettino",
            "reference": "integrazione MI0002",
        },
    ],
    [
        "01-13 03:50",
        "evt-00902",
        "activation.failed",
        {
            "order_id": "MI0015",
            "failed_at": "2026-01-11T16:50:00+01:00",
            "reason": "provisioning error",
        },
    ],
    [
        "01-14 14:30",
        "evt-00892",
        "payment.received",
        {
            "order_id": "MI0010",
            "customer_id": "2222222@aruba.it",
            "service": "spid",
            "amount": "25.00",
            "currency": "EUR",
            "paid_at": "2026-01-14T14:30:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-14 15:20",
        "evt-00896",
        "activation.completed",
        {"order_id": "NO0012", "activated_at": "2026-01-13T22:30:00+01:00"},
    ],
    [
        "01-19 16:30",
        "evt-00910",
        "payment.received",
        {
            "order_id": "NO0020",
            "customer_id": "1111111@aruba.it",
            "service": "hosting",
            "amount": "30.00",
            "currency": "EUR",
            "paid_at": "2026-01-19T16:30:00+01:00",
            "method": "bonifico",
            "reference": "integrazione NO0020",
        },
    ],
    [
        "01-20 14:30",
        "evt-00890",
        "credit.requested",
        {
            "request_id": "RF0008",
            "customer_id": "1111111@aruba.it",
            "action": "refund",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-20T14:30:00+01:00",
        },
    ],
    [
        "01-20 14:30",
        "evt-00903",
        "payment.received",
        {
            "order_id": "MI0016",
            "customer_id": "3333333@aruba.it",
            "service": "spid",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-20T14:30:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-20 14:30",
        "evt-00909",
        "credit.requested",
        {
            "request_id": "RQ0019",
            "customer_id": "3333333@aruba.it",
            "action": "transfer",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-20T14:30:00+01:00",
            "new_order": {
                "order_id": "NO0020",
                "amount": "20.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "hosting",
            },
            "credit_ids": ["CR-MI0002"],
        },
    ],
    [
        "01-20 15:10",
        "evt-00882",
        "activation.failed",
        {
            "order_id": "MI0003",
            "failed_at": "2026-01-20T15:10:00+01:00",
            "reason": "provisioning error",
        },
    ],
    [
        "01-21 04:30",
        "evt-00893",
        "activation.failed",
        {
            "order_id": "MI0010",
            "failed_at": "2026-01-21T04:30:00+01:00",
            "reason": "provisioning error",
        },
    ],
    [
        "01-21 04:34",
        "evt-00883",
        "credit.requested",
        {
            "request_id": "RQ0004",
            "customer_id": "1111111@aruba.it",
            "action": "transfer",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-20T14:30:00+01:00",
            "new_order": {
                "order_id": "MI0002",
                "amount": "20.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "hosting",
            },
        },
    ],
    [
        "01-22 04:50",
        "evt-00879",
        "payment.received",
        {
            "order_id": "MI0002",
            "customer_id": "1111111@aruba.it",
            "service": "spid",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-20T14:30:00+01:00",
            "method": "card",
        },
    ],
    [
        "01-25 07:30",
        "evt-00884",
        "payment.received",
        {
            "order_id": "MI0002",
            "customer_id": "1111111@aruba.it",
            "service": "hosting",
            "amount": "30.00",
            "currency": "EUR",
            "paid_at": "2026-01-25T07:30:00+01:00",
            "method": "bonifico",
            "reference": "integrazione MI0002",
        },
    ],
    [
        "01-25 23:28",
        "evt-00897",
        "credit.requested",
        {
            "request_id": "RQ0013",
            "customer_id": "2222222@aruba.it",
            "action": "transfer",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-01-25T23:28:00+01:00",
            "new_order": {
                "order_id": "NO0014",
                "amount": "5.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "hosting",
            },
            "credit_ids": ["CR-MI0003"],
        },
    ],
    [
        "01-28 09:30",
        "evt-00885",
        "activation.failed",
        {
            "order_id": "MI0002",
            "failed_at": "2026-01-28T09:30:00+01:00",
            "reason": "provisioning error",
        },
    ],
    [
        "01-28 10:28",
        "evt-00898",
        "payment.received",
        {
            "order_id": "NO0014",
            "customer_id": "2222222@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-01-28T10:28:00+01:00",
            "method": "bollettino",
            "reference": "integrazione NO0014",
        },
    ],
    [
        "01-29 21:45",
        "evt-00904",
        "activation.failed",
        {
            "order_id": "MI0016",
            "failed_at": "2026-01-29T19:30:00+01:00",
            "reason": "provisioning error",
        },
    ],
    [
        "01-31 22:28",
        "evt-00900",
        "activation.completed",
        {"order_id": "NO0014", "activated_at": "2026-01-31T22:28:00+01:00"},
    ],
    [
        "02-01 11:28",
        "evt-00899",
        "payment.received",
        {
            "order_id": "NO0014",
            "customer_id": "2222222@aruba.it",
            "service": "hosting",
            "amount": "10.00",
            "currency": "EUR",
            "paid_at": "2026-02-01T11:28:00+01:00",
            "method": "bonifico",
            "reference": "integrazione NO0014",
        },
    ],
    [
        "02-02 12:49",
        "evt-00880",
        "activation.failed",
        {
            "order_id": "MI0002",
            "failed_at": "2026-02-02T06:30:00+01:00",
            "reason": "provisioning error",
        },
    ],
    [
        "02-08 17:20",
        "evt-00906",
        "payment.received",
        {
            "order_id": "NO0018",
            "customer_id": "1111111@aruba.it",
            "service": "hosting",
            "amount": "3.00",
            "currency": "EUR",
            "paid_at": "2026-02-08T16:30:00+01:00",
            "method": "bollettino",
            "reference": "integrazione NO0018",
        },
    ],
    [
        "02-11 07:19",
        "evt-00905",
        "credit.requested",
        {
            "request_id": "RQ0017",
            "customer_id": "3333333@aruba.it",
            "action": "transfer",
            "channel": "online_form",
            "documents": [],
            "requested_at": "2026-02-10T14:30:00+01:00",
            "new_order": {
                "order_id": "NO0018",
                "amount": "20.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "hosting",
            },
            "credit_ids": ["CR-NO0012"],
        },
    ],
    [
        "02-11 12:30",
        "evt-00908",
        "activation.completed",
        {"order_id": "NO0018", "activated_at": "2026-02-11T12:30:00+01:00"},
    ],
    [
        "02-17 04:51",
        "evt-00907",
        "payment.received",
        {
            "order_id": "NO0018",
            "customer_id": "3333333@aruba.it",
            "service": "hosting",
            "amount": "3.00",
            "currency": "EUR",
            "paid_at": "2026-02-16T04:30:00+01:00",
            "method": "bollettino",
            "reference": "integrazione NO0018",
        },
    ],
]


def _arrival(text: str) -> datetime:
    month, rest = text.split("-")
    day, clock = rest.split(" ")
    hour, minute = clock.split(":")
    return START.replace(month=int(month), day=int(day), hour=int(hour), minute=int(minute))


def test_late_delivery_keeps_every_account_whole_in_written_order(engine: Engine) -> None:
    """Delivered as they arrived, with each day's sweep: the journal replayed in the
    order it was written never shows an account below zero."""
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
    for day in range(1, 46):
        lines.append((START + timedelta(days=day), 10_000 + day, START + timedelta(days=day)))
    for _, _, line in sorted(lines, key=lambda each: (each[0], each[1])):
        if isinstance(line, datetime):
            books.sweep("all", line)
        else:
            books.record_one(line)  # type: ignore[arg-type]

    assert_books_balance(engine)
