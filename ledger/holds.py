"""Holds on credit for a new order (R6): committed when the difference is paid,
released when the hold window lapses, forfeiting released credit already expired."""

from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import Row, bindparam, select, update

from ledger.books import Account, Line, transfer
from ledger.context import Context
from ledger.credit_book import forfeit, load_credits, move_buckets
from ledger.money import cents_to_decimal
from ledger.store import schema
from messages.notifications import HoldReleased, OrderFunded, PaymentUnmatched, UnmatchedReason

__all__ = [
    "LAPSED_HOLD",
    "commit_hold",
    "give_credit_back",
    "held_portions",
    "release_hold",
    "release_lapsed_holds_of",
    "return_paid_topups",
]

_HOLD = schema.transfers.c
LAPSED_HOLD: Final = (
    (_HOLD.customer_id == bindparam("customer_id"))
    & (_HOLD.status == "awaiting_topup")
    & (_HOLD.due_by <= bindparam("as_of", type_=_HOLD.due_by.type))
)
"""A hold of ``:customer_id`` whose window lapsed unpaid by ``:as_of``."""
_LAPSED_HOLDS: Final = (
    select(schema.transfers).where(LAPSED_HOLD).order_by(_HOLD.request_id).with_for_update()
)


def held_portions(ctx: Context, request_id: str) -> list[tuple[str, int]]:
    """(credit_id, cents) the transfer ``request_id`` took, in lock order."""
    query = (
        select(schema.allocations.c.credit_id, schema.allocations.c.amount_cents)
        .where(schema.allocations.c.request_id == request_id)
        .order_by(schema.allocations.c.credit_id)
    )
    return [(row.credit_id, row.amount_cents) for row in ctx.uow.connection.execute(query)]


def _settle(ctx: Context, request_id: str, *, status: str, at: datetime) -> None:
    ctx.uow.connection.execute(
        update(schema.transfers)
        .where(schema.transfers.c.request_id == request_id)
        .values(status=status, settled_at=at)
    )


def commit_hold(ctx: Context, held: Row[Any], *, paid_cents: int, at: datetime, cause: str) -> None:
    """The difference is paid: held credit becomes used, the order is funded."""
    for credit_id, cents in held_portions(ctx, held.request_id):
        move_buckets(ctx, credit_id, held=-cents, used=cents)
        ctx.post(
            kind="hold_committed",
            customer_id=held.customer_id,
            cause=cause,
            effective_at=at,
            memo=f"held credit {credit_id} pays order {held.order_id}",
            lines=transfer(Account.CREDIT_HELD, Account.CREDIT_APPLIED, cents, credit_id),
            order_id=held.order_id,
            credit_id=credit_id,
        )
    _settle(ctx, held.request_id, status="funded", at=at)
    ctx.notify(
        OrderFunded(
            customer_id=held.customer_id,
            order_id=held.order_id,
            applied=cents_to_decimal(held.credit_cents),
            paid=cents_to_decimal(paid_cents),
        ),
        cause=held.request_id,
        time=at,
    )


def release_hold(
    ctx: Context,
    held: Row[Any],
    *,
    cause: str,
    at: datetime | None = None,
    reason: Literal["hold_lapsed", "activation_failed"] = "hold_lapsed",
) -> tuple[int, int]:
    """The hold window lapsed (or, ``at`` an earlier instant and ``reason``
    ``activation_failed``, the order's activation failed): credit back to available at
    ``due_by`` (or ``at``), what is past its expiry forfeited at once, what had been
    paid towards it back to unmatched payments, reported with ``reason``.
    Returns (released, forfeited) cents."""
    if at is None:
        at = held.due_by
    memo, why = {
        "hold_lapsed": ("lapsed unpaid", "whose hold was released unfunded"),
        "activation_failed": (
            "released: its activation failed",
            "whose activation failed before it was paid in full",
        ),
    }[reason]
    portions, forfeited = give_credit_back(
        ctx,
        held,
        from_bucket="held",
        at=at,
        cause=cause,
        kind="hold_released",
        memo=f"hold for order {held.order_id} {memo}",
    )
    released = sum(cents for _, cents in portions)
    return_paid_topups(
        ctx,
        held,
        at=at,
        why=f"it paid part of the difference on order {held.order_id}, {why}",
        reason=reason,
    )
    _settle(ctx, held.request_id, status="released", at=at)
    ctx.notify(
        HoldReleased(
            customer_id=held.customer_id,
            order_id=held.order_id,
            released=cents_to_decimal(released),
            forfeited=cents_to_decimal(forfeited),
        ),
        cause=held.request_id,
        time=at,
    )
    return released, forfeited


def release_lapsed_holds_of(ctx: Context, customer_id: str, as_of: datetime) -> None:
    """R6: every hold of ``customer_id`` lapsed unpaid by ``as_of`` (a UTC instant)
    released at its ``due_by``, in key order, as the holds run releases a customer's
    (``SweepPass.whole_customers``): holds of one credit act on each other, so one
    released alone before an earlier one would forfeit less. The caller holds the
    customer's lock."""
    due = {"customer_id": customer_id, "as_of": as_of}
    for held in ctx.uow.connection.execute(_LAPSED_HOLDS, due).all():
        release_hold(ctx, held, cause=f"holds|{held.request_id}")


def give_credit_back(
    ctx: Context,
    funding: Row[Any],
    *,
    from_bucket: Literal["held", "used"],
    at: datetime,
    cause: str,
    kind: str,
    memo: str,
) -> tuple[list[tuple[str, int]], int]:
    """Return to available, at ``at``, the credit the transfer ``funding`` took (still
    held, or already used), each portion to its own credit; what is past its expiry by
    then is forfeited at once. Returns the portions and the cents forfeited."""
    account = Account.CREDIT_HELD if from_bucket == "held" else Account.CREDIT_APPLIED
    portions = held_portions(ctx, funding.request_id)
    for credit_id, cents in portions:
        move_buckets(ctx, credit_id, **{from_bucket: -cents, "available": cents})
        ctx.post(
            kind=kind,
            customer_id=funding.customer_id,
            cause=cause,
            effective_at=at,
            memo=memo,
            lines=transfer(account, Account.CREDIT_AVAILABLE, cents, credit_id),
            order_id=funding.order_id,
            credit_id=credit_id,
        )
    forfeited = sum(
        forfeit(ctx, credit, at=at, cause=f"{credit.credit_id}|{kind}|{funding.request_id}")
        for credit in load_credits(ctx, credit_ids=[credit_id for credit_id, _ in portions])
        if not credit.is_usable(at)
    )
    return portions, forfeited


def return_paid_topups(
    ctx: Context,
    held: Row[Any],
    *,
    at: datetime,
    why: str,
    reason: UnmatchedReason = "hold_lapsed",
) -> None:
    """Top-ups matched to the transfer ``held`` that funds no order after all go back to
    unmatched payments, where ops can return them or a new request on the same order can
    use them; ops are told (``payment.unmatched``, ``reason``) ``why``."""
    column = schema.topups.c
    paid = ctx.uow.connection.execute(
        select(column.event_id, column.customer_id, column.applied_cents)
        .where(column.order_id == held.order_id, column.applied_cents > 0)
        .order_by(column.paid_at, column.event_id)
    ).all()
    for topup in paid:
        cause = f"{topup.event_id}|released|{held.request_id}"
        ctx.post(
            kind="topup_unmatched",
            customer_id=topup.customer_id,
            cause=cause,
            effective_at=at,
            memo=f"top-up for order {held.order_id} back to unmatched payments",
            lines=[
                Line(Account.TOPUPS_RECEIVED, topup.applied_cents),
                Line(Account.UNMATCHED_PAYMENTS, -topup.applied_cents),
            ],
            order_id=held.order_id,
        )
        ctx.uow.connection.execute(
            update(schema.topups).where(column.event_id == topup.event_id).values(applied_cents=0)
        )
        ctx.notify(
            PaymentUnmatched(
                customer_id=topup.customer_id,
                order_id=held.order_id,
                event_id=topup.event_id,
                amount=cents_to_decimal(topup.applied_cents),
                reason=reason,
                detail=f"{why}; the payment is kept as unmatched for ops",
            ),
            cause=cause,
            time=at,
        )
