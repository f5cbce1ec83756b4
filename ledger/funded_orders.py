"""Orders paid with credit (R6): finding their transfer, and R1 when they fail.

An order funded by a credit transfer has no payment event, hence no ``orders`` row,
yet upstream reports its activation like any other's. Its transfer stands in for the
payment (``ledger.orders`` reads it into the order's lifecycle state), and a failure
gives back what paid the order, as R1 gives back a card payment. The credit returns to
the credits it came from, each with its own expiry (a failed order does not lengthen a
credit's life), and what is already past its expiry is forfeited at once, as when a
hold is released; the top-ups that paid the difference go back to unmatched payments
for ops to return. A transfer still awaiting its top-up is released at the failure
instead of at its due date.
"""

from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row, bindparam, select, update

from ledger.context import Context
from ledger.holds import give_credit_back, release_hold, return_paid_topups
from ledger.money import cents_to_decimal
from ledger.store import schema
from messages.inbound import ActivationFailed
from messages.notifications import CreditPortion, CreditRestored

__all__ = ["find_funding", "record_funded_failure"]


_FUNDING: Final = (
    select(schema.transfers)
    .where(
        schema.transfers.c.order_id == bindparam("order_id"),
        (schema.transfers.c.status != "released") | schema.transfers.c.failed_at.is_not(None),
    )
    .order_by(schema.transfers.c.requested_at.desc(), schema.transfers.c.request_id.desc())
    .limit(1)
    .with_for_update()
)
"""An order's funding transfer, locked: read by nearly every event, built once."""


def find_funding(ctx: Context, order_id: str) -> Row[Any] | None:
    """The credit transfer paying (or about to pay) ``order_id``, or the one its failure
    released, locked; None if there is none. A hold that lapsed unpaid funded nothing."""
    return ctx.uow.connection.execute(_FUNDING, {"order_id": order_id}).one_or_none()


def record_funded_failure(ctx: Context, funding: Row[Any], failure: ActivationFailed) -> None:
    """R1 for an order paid (or being paid) with credit: what paid it is the customer's
    again, once. The lifecycle has checked the order is neither live nor failed."""
    at = max(failure.failed_at, funding.requested_at)
    ctx.uow.connection.execute(
        update(schema.transfers)
        .where(schema.transfers.c.request_id == funding.request_id)
        .values(failed_at=at)
    )
    if funding.status == "awaiting_topup":
        # Released at the failure, or when the window lapsed if that came first (the
        # sweep had not run yet): as the sweep would have released it.
        release_hold(
            ctx,
            funding,
            cause=f"failed|{funding.request_id}",
            at=min(at, funding.due_by),
            reason="activation_failed",
        )
        return
    _restore_credit(ctx, funding, at=at)
    return_paid_topups(
        ctx,
        funding,
        at=at,
        why=f"it paid part of order {funding.order_id}, whose activation failed",
        reason="activation_failed",
    )


def _restore_credit(ctx: Context, funding: Row[Any], *, at: datetime) -> None:
    cause = f"restored|{funding.request_id}"
    portions, forfeited = give_credit_back(
        ctx,
        funding,
        from_bucket="used",
        at=at,
        cause=cause,
        kind="credit_restored",
        memo=f"order {funding.order_id} failed: its credit is available again",
    )
    ctx.notify(
        CreditRestored(
            customer_id=funding.customer_id,
            order_id=funding.order_id,
            restored=cents_to_decimal(sum(cents for _, cents in portions)),
            forfeited=cents_to_decimal(forfeited),
            from_credits=[
                CreditPortion(credit_id=credit_id, amount=cents_to_decimal(cents))
                for credit_id, cents in portions
            ],
        ),
        cause=cause,
        time=at,
    )
