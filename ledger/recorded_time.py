"""The books as they were written by a recorded time (``--known-at``).

Every journal entry carries ``effective_at`` (business time: when it counts) and
``recorded_at`` (when residuo wrote it). A correction is dated like the entry it
corrects (``ledger.corrections``), so a figure read at a business time changes when a
late event reverses something; read also at a recorded time, it is what the books said
then. This is the one place that condition is written: the customer's balance and
statement (``ledger.queries``) and the finance reports (``ledger.reports``) read it.
"""

from datetime import datetime

from sqlalchemy import ColumnElement, true

from ledger.store import schema

__all__ = ["recorded_by"]


def recorded_by(known_at: datetime | None) -> ColumnElement[bool]:
    """The condition keeping the journal entries written by ``known_at`` (an aware
    instant, inclusive), or every entry when ``known_at`` is None. Combine it with
    ``&`` or pass it to ``where``; the caller joins ``journal_entries``."""
    if known_at is None:
        return true()
    return schema.journal_entries.c.recorded_at <= known_at
