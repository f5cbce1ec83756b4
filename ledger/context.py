"""What every rule application needs: the transaction, the policy, the clock reading."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ledger.books import Entry, Line, post_entries, post_entry
from ledger.outbox import emit, outbox_row
from ledger.policy import Policy
from ledger.store import schema
from ledger.store.uow import UnitOfWork
from messages.notifications import NotificationData

__all__ = ["Context", "Notice"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification to queue: what ``Context.notify`` takes, as one value."""

    data: NotificationData
    cause: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Context:
    """One unit of work applying the rules under one policy.

    ``recorded_at`` is when residuo writes (wall clock, for audit only); every rule
    reads business time from the event or the sweep's ``as_of`` instead.
    """

    uow: UnitOfWork
    policy: Policy
    recorded_at: datetime

    def local(self, instant: datetime) -> datetime:
        """``instant`` in the business time zone, as notifications show it."""
        return instant.astimezone(self.policy.zone)

    def notify(self, data: NotificationData, *, cause: str, time: datetime) -> bool:
        """Queue a notification in this transaction (see ``ledger.outbox``)."""
        return emit(
            self.uow, data, cause=cause, time=self.local(time), recorded_at=self.recorded_at
        )

    def post(
        self,
        *,
        kind: str,
        customer_id: str,
        cause: str,
        effective_at: datetime,
        memo: str,
        lines: list[Line],
        order_id: str | None = None,
        credit_id: str | None = None,
    ) -> int:
        """Append a balanced journal entry in this transaction."""
        return post_entry(
            self.uow,
            kind=kind,
            customer_id=customer_id,
            cause=cause,
            effective_at=effective_at,
            recorded_at=self.recorded_at,
            memo=memo,
            lines=lines,
            order_id=order_id,
            credit_id=credit_id,
        )

    def post_entries(self, entries: Sequence[Entry]) -> None:
        """Append many balanced entries in this transaction, in three statements."""
        post_entries(self.uow, entries, recorded_at=self.recorded_at)

    def notify_all(self, notices: Sequence[Notice]) -> None:
        """Queue many notifications in one batched insert; twins are left out, as by
        ``notify``."""
        if not notices:
            return
        rows = [
            outbox_row(
                notice.data,
                cause=notice.cause,
                time=self.local(notice.time),
                recorded_at=self.recorded_at,
            )
            for notice in notices
        ]
        self.uow.insert_many(schema.outbox, rows, ignore_conflicts=True, long_text=True)
