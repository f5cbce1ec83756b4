"""Orders paid with credit (R6): their activation, and R1 when it fails.

An order funded by a credit transfer has no payment event, hence no ``orders`` row,
yet upstream reports its activation like any other's. Its transfer stands in for the
payment: an activation is recorded on it, and a failure gives back what paid the order,
as R1 gives back a card payment. The credit returns to the credits it came from, each
with its own expiry (a failed order does not lengthen a credit's life), and what is
already past its expiry is forfeited at once, as when a hold is released; the top-ups
that paid the difference go back to unmatched payments for ops to return. A transfer
still awaiting its top-up is released at the failure instead of at its due date.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update

from ledger.context import Context
from ledger.holds import give_credit_back, release_hold, return_paid_topups
from ledger.money import cents_to_decimal
from ledger.outcomes import APPLIED, Applied
from ledger.store import schema
from messages.inbound import ActivationCompleted, ActivationFailed
from messages.notifications import CreditPortion, CreditRestored

__all__ = [
    "find_funding",
    "is_funded_with_credit",
    "record_funded_activation",
    "record_funded_failure",
]


def is_funded_with_credit(ctx: Context, order_id: str) -> bool:
    """A credit transfer pays ``order_id``, or holds credit for it (R6): the order is
    not to be funded again, by credit or by card."""
    column = schema.transfers.c
    query = select(column.request_id).where(
        func.upper(column.order_id) == order_id.upper(), column.status != "released"
    )
    return ctx.uow.connection.execute(query).first() is not None


def find_funding(ctx: Context, order_id: str) -> Row[Any] | None:
    """The credit transfer paying (or about to pay) ``order_id``, or the one its failure
    released, locked; None if there is none. A hold that lapsed unpaid funded nothing.
    Order numbers are compared without case, as in the transfer that named the order."""
    column = schema.transfers.c
    query = (
        select(schema.transfers)
        .where(
            func.upper(column.order_id) == order_id.upper(),
            (column.status != "released") | column.failed_at.is_not(None),
        )
        .order_by(column.requested_at.desc(), column.request_id.desc())
        .limit(1)
        .with_for_update()
    )
    return ctx.uow.connection.execute(query).one_or_none()


def record_funded_activation(
    ctx: Context, funding: Row[Any], activation: ActivationCompleted
) -> Applied:
    """The order paid with credit went live: recorded once; the credit was already
    booked as applied, so nothing moves. A failure reported first keeps the order failed."""
    if funding.failed_at is not None:
        return Applied.refused(
            "activation_already_failed",
            f"order {funding.order_id} failed activation earlier and its credit was given back",
        )
    if funding.activated_at is None:
        _mark(ctx, funding, activated_at=activation.activated_at)
    return APPLIED


def record_funded_failure(ctx: Context, funding: Row[Any], failure: ActivationFailed) -> Applied:
    """R1 for an order paid with credit: what paid it is the customer's again, once."""
    if funding.activated_at is not None:
        return Applied.refused(
            "already_activated",
            f"order {funding.order_id} was activated; a failure now is ignored",
        )
    if funding.failed_at is not None:
        return APPLIED
    at = max(failure.failed_at, funding.requested_at)
    _mark(ctx, funding, failed_at=at)
    if funding.status == "awaiting_topup":
        # Released at the failure, or when the window lapsed if that came first (the
        # sweep had not run yet): as the sweep would have released it.
        release_hold(ctx, funding, cause=f"failed|{funding.request_id}", at=min(at, funding.due_by))
        return APPLIED
    _restore_credit(ctx, funding, at=at)
    return_paid_topups(
        ctx,
        funding,
        at=at,
        why=f"it paid part of order {funding.order_id}, whose activation failed",
        reason="activation_failed",
    )
    return APPLIED


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


def _mark(ctx: Context, funding: Row[Any], **instants: datetime) -> None:
    ctx.uow.connection.execute(
        update(schema.transfers)
        .where(schema.transfers.c.request_id == funding.request_id)
        .values(**instants)
    )
