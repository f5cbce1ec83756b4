"""How long each kind of identifier may be: one number per kind, for the wire and the books.

The wire models (`messages`) refuse a longer value up front, as an invalid event, and
the ledger's tables (``ledger.store.schema``) size their columns from the same
constants, so a value the validator accepts is always one the database can hold.
Ids the ledger derives from them are sized here too: a credit's id is its order's
number behind `CREDIT_ID_PREFIX`, so `CREDIT_ID_MAX_LENGTH` follows from
`ORDER_ID_MAX_LENGTH`. A test walks every model and every table and fails on any
mismatch (``tests/unit/test_field_limits.py``).

Lock keys (``order:<ORDER>``, ``customer:<id>``) need no bound: PostgreSQL hashes
them (``pg_advisory_xact_lock(hashtextextended(key, 0))``) and stores nothing.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CODE_MAX_LENGTH",
    "CREDIT_IDS_MAX_COUNT",
    "CREDIT_ID_MAX_LENGTH",
    "CREDIT_ID_PREFIX",
    "CUSTOMER_ID_MAX_LENGTH",
    "DEAD_LETTER_ID_MAX_LENGTH",
    "EVENT_ID_MAX_LENGTH",
    "EVENT_TYPE_MAX_LENGTH",
    "OPERATOR_MAX_LENGTH",
    "ORDER_ID_MAX_LENGTH",
    "REQUEST_ID_MAX_LENGTH",
    "SERVICE_MAX_LENGTH",
]

EVENT_ID_MAX_LENGTH: Final = 255
"""A CloudEvent ``id``: upstream's idempotency key, often a URN or a UUID."""

EVENT_TYPE_MAX_LENGTH: Final = 64
"""A CloudEvent ``type``, inbound or notification (``spid.deadline_approaching``)."""

ORDER_ID_MAX_LENGTH: Final = 64
"""An order number (``MI0001``), paid or to be paid with credit."""

CUSTOMER_ID_MAX_LENGTH: Final = 255
"""An account id (``1234567@aruba.it``): as long as an e-mail address may be."""

REQUEST_ID_MAX_LENGTH: Final = 64
"""A credit request's id, the key of ``credit_requests``."""

SERVICE_MAX_LENGTH: Final = 64
"""A service name (``spid``, ``hosting``)."""

CODE_MAX_LENGTH: Final = 32
"""A short code ops count and filter on: a rejection or refusal reason."""

CREDIT_ID_PREFIX: Final = "CR-"
"""A credit's id is ``CR-<order number>``: one order, one credit (R1)."""

CREDIT_ID_MAX_LENGTH: Final = len(CREDIT_ID_PREFIX) + ORDER_ID_MAX_LENGTH
"""The longest credit id: the prefix and the longest order number."""

CREDIT_IDS_MAX_COUNT: Final = 1_000
"""How many credits a credit request may name (``credit_ids``). Each is one parameter
of the query that loads them, and PostgreSQL's protocol carries at most 65,535 per
query: a longer list could never be judged. A customer has a few credits."""

DEAD_LETTER_ID_MAX_LENGTH: Final = len("sha256:") + 64
"""A dead letter's id: ``sha256:`` and a SHA-256 in hex (a Dramatiq message id, a UUID,
is shorter)."""

OPERATOR_MAX_LENGTH: Final = 255
"""Who decided what became of a dead letter (a login name, an e-mail address)."""
