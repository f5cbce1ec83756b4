"""Holds on credit for a new order (R6): committed when the difference is paid,
released when the hold window lapses, forfeiting released credit already expired."""

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update

from ledger.books import Account, transfer
from ledger.context import Context
from ledger.credit_book import forfeit, load_credits, move_buckets
from ledger.money import cents_to_decimal
from ledger.store import schema
from messages.notifications import HoldReleased, OrderFunded

__all__ = ["commit_hold", "held_portions", "release_hold"]


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


def release_hold(ctx: Context, held: Row[Any], *, cause: str) -> tuple[int, int]:
    """The hold window lapsed: credit back to available at ``due_by``, and what is past
    its expiry is forfeited at once. Returns (released, forfeited) cents."""
    at: datetime = held.due_by
    portions = held_portions(ctx, held.request_id)
    for credit_id, cents in portions:
        move_buckets(ctx, credit_id, held=-cents, available=cents)
        ctx.post(
            kind="hold_released",
            customer_id=held.customer_id,
            cause=cause,
            effective_at=at,
            memo=f"hold for order {held.order_id} lapsed unpaid",
            lines=transfer(Account.CREDIT_HELD, Account.CREDIT_AVAILABLE, cents, credit_id),
            order_id=held.order_id,
            credit_id=credit_id,
        )
    forfeited = sum(
        forfeit(ctx, credit, at=at, cause=f"{credit.credit_id}|released|{held.request_id}")
        for credit in load_credits(ctx, credit_ids=[credit_id for credit_id, _ in portions])
        if not credit.is_usable(at)
    )
    released = sum(cents for _, cents in portions)
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
