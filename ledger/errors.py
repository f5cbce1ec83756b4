"""The ledger's exceptions: one root, a shallow hierarchy.

Business refusals (no credit, not the owner, …) are not exceptions: they are
outcomes, booked and notified. Exceptions here mean the caller or the data is wrong.
"""

__all__ = ["AdjustmentRefusedError", "LedgerError", "UnbalancedEntryError", "UnknownSweepError"]


class LedgerError(Exception):
    """Root of every error raised by the ledger."""


class UnbalancedEntryError(LedgerError):
    """A journal entry whose postings do not sum to zero: a bug, never booked."""


class UnknownSweepError(LedgerError):
    """A sweep kind that does not exist."""


class AdjustmentRefusedError(LedgerError):
    """An operator's adjustment that would take from a credit more than it holds, or
    names a credit the customer lacks: nothing is booked; the message says why."""
