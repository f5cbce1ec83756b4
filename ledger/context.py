"""What every rule application needs: the transaction, the policy, the clock reading."""

from dataclasses import dataclass
from datetime import datetime

from ledger.books import Line, post_entry
from ledger.outbox import emit
from ledger.policy import Policy
from ledger.store.uow import UnitOfWork
from messages.notifications import NotificationData

__all__ = ["Context"]


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
