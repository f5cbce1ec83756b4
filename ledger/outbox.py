"""The transactional outbox: notifications written in the ledger's own transaction.

A notification exists if and only if the change it reports committed. Its id is a
UUIDv5 of its type and what caused it, so re-running a sweep or re-delivering an
event can never add a second copy: the unique key absorbs it.
"""

import uuid
from datetime import datetime
from typing import Any

import uuid_utils

from messages.notifications import NotificationData
from messages.outbound import notification_payload

__all__ = ["NOTIFICATION_NAMESPACE", "notification_id", "outbox_row", "retold_id"]

NOTIFICATION_NAMESPACE = uuid.UUID("8d0c5a5e-4f3b-4d7e-9a53-7c1b2f0e6a11")
# The same ids as the standard library's ``uuid5``, written by uuid-utils (Rust) in a
# fifth of the time: a sweep names a notification per due row.
_NAMESPACE = uuid_utils.UUID(str(NOTIFICATION_NAMESPACE))


def notification_id(notification_type: str, cause: str) -> str:
    """The stable id of the ``notification_type`` notification caused by ``cause``:
    ``uuid.uuid5(NOTIFICATION_NAMESPACE, f"{notification_type}|{cause}")`` as text."""
    return str(uuid_utils.uuid5(_NAMESPACE, f"{notification_type}|{cause}"))


def retold_id(rule_key: str, tellings: int) -> str:
    """The id of a derived notification told again after ``tellings`` earlier ones of
    its rule (``rule_key``) were all voided by corrections. Outbox rows are never
    deleted, so the count only grows and each telling gets an id of its own."""
    return str(uuid_utils.uuid5(_NAMESPACE, f"{rule_key}|told|{tellings}"))


def outbox_row(
    data: NotificationData,
    *,
    cause: str,
    time: datetime,
    recorded_at: datetime,
    derived: bool = False,
    event_id: str | None = None,
    identifier: str | None = None,
) -> dict[str, Any]:
    """The ``outbox`` row of ``data``, with the id its cause gives it (or ``identifier``).

    ``derived`` marks what the rules say about the books (a correction may take it
    back), ``event_id`` the event whose application said it."""
    notification_type: str = data.TYPE
    own_id = notification_id(notification_type, cause)
    identifier = identifier or own_id
    return {
        "notification_id": identifier,
        "type": notification_type,
        "customer_id": getattr(data, "customer_id", None),
        "payload": notification_payload(data, id=identifier, time=time),
        "created_at": recorded_at,
        "derived": derived,
        "rule_key": own_id if derived else None,
        "event_id": event_id,
    }
