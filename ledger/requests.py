"""Credit requests (R6 transfer, R7 channels, R9 refund) from the account holder."""

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update

from ledger.books import Account, transfer
from ledger.context import Context
from ledger.credit_book import load_credits, move_buckets
from ledger.fell_due import settle_what_fell_due
from ledger.lifecycle import Arrival, Step, refusal_message
from ledger.money import cents_to_decimal, decimal_to_cents
from ledger.orders import order_at, order_lock_key
from ledger.outcomes import APPLIED, Applied, Outcome
from ledger.rules import (
    CreditState,
    Portion,
    Refusal,
    allocate,
    hold_due_by,
    refundable_credits,
    spendable_credits,
)
from ledger.store import schema
from ledger.topups import apply_topup, find_open_hold, topup_required
from messages.inbound import CreditRequested, NewOrder
from messages.notifications import (
    CreditApplied,
    CreditPortion,
    RefundRequested,
    RequestRejected,
)

__all__ = ["record_credit_request"]


def record_credit_request(ctx: Context, event_id: str, request: CreditRequested) -> Applied:
    """Apply a transfer or refund request once per ``request_id``; refusals are notified."""
    keys = [f"customer:{request.customer_id}"]
    if request.new_order is not None:
        keys.append(order_lock_key(request.new_order.order_id))
    ctx.uow.lock(*keys)
    inserted = ctx.uow.insert_ignoring_conflicts(
        schema.credit_requests,
        {
            "request_id": request.request_id,
            "customer_id": request.customer_id,
            "action": request.action,
            "channel": request.channel,
            "requested_at": request.requested_at,
            "outcome": "rejected",
        },
    )
    if not inserted:
        return Applied.refused(
            "duplicate_request", f"request {request.request_id} was already handled"
        )
    # Judged at ``requested_at``, whether or not the sweeps ran by then.
    settle_what_fell_due(ctx, request.customer_id, request.requested_at)
    refusal = _check_request(ctx, request)
    if refusal is None:
        credits = _owned_credits(ctx, request)
        refusal = credits if isinstance(credits, Refusal) else None
    if refusal is None:
        assert not isinstance(credits, Refusal)
        if request.new_order is not None:
            refusal = _transfer(ctx, event_id, request, request.new_order, credits)
        else:
            refusal = _refund(ctx, request, credits)
    if refusal is not None:
        _reject(ctx, request, refusal)
        return Applied(Outcome.APPLIED, declined=refusal.reason)
    return APPLIED


def _check_request(ctx: Context, request: CreditRequested) -> Refusal | None:
    """What needs no credit: R7's documents, the credits named, and whether the new
    order may still be paid with credit (its lifecycle state, its owner)."""
    if any(not name.strip() for name in request.documents):
        return Refusal("blank_document", "Every attached document must have a name.")
    if request.channel == "documents" and not request.documents:
        return Refusal(
            "missing_documents",
            "A request through the documents procedure must attach at least one document.",
        )
    if request.credit_ids is not None and not request.credit_ids:
        return Refusal(
            "no_credit_named",
            "The request names no credit: name the credits to use, or leave the list out "
            "to use all of them.",
        )
    new_order = request.new_order
    if new_order is None:
        return None
    order = order_at(ctx, new_order.order_id, request.requested_at)
    if order.customer_id not in (None, request.customer_id):
        return Refusal("not_owner", f"Order {new_order.order_id} belongs to another account.")
    step = order.next(Arrival.TRANSFER)
    if step.step is Step.REFUSE:
        reason = step.reason_for(order.funded_by)
        return Refusal(reason, refusal_message(reason, new_order.order_id))
    return None


def _owned_credits(ctx: Context, request: CreditRequested) -> list[CreditState] | Refusal:
    """The requester's credits, locked; naming a credit that does not exist, or another
    account's, is refused."""
    if request.credit_ids is None:
        return load_credits(ctx, customer_id=request.customer_id)
    if any(not credit_id.strip() for credit_id in request.credit_ids):
        return Refusal("unknown_credit", "A credit named in the request has no id.")
    named = load_credits(ctx, credit_ids=request.credit_ids)
    unknown = sorted(set(request.credit_ids) - {credit.credit_id for credit in named})
    if unknown:
        return Refusal("unknown_credit", f"There is no credit {', '.join(unknown)}.")
    if any(credit.customer_id != request.customer_id for credit in named):
        return Refusal("not_owner", "Only the account that owns a credit may use it.")
    return named


def _transfer(
    ctx: Context,
    event_id: str,
    request: CreditRequested,
    new_order: NewOrder,
    credits: list[CreditState],
) -> Refusal | None:
    choice = spendable_credits(
        credits,
        new_order_id=new_order.order_id,
        purpose=new_order.purpose,
        as_of=request.requested_at,
        policy=ctx.policy,
    )
    if isinstance(choice, Refusal):
        return choice
    # All the credit usable now, not only what could pay this order or was named.
    at = request.requested_at
    everything = (
        credits
        if request.credit_ids is None
        else load_credits(ctx, customer_id=request.customer_id)
    )
    usable = sum(c.available for c in everything if c.exists_at(at) and c.is_usable(at))
    order_amount = decimal_to_cents(new_order.amount)
    portions = allocate(choice, order_amount)
    taken = sum(portion.amount for portion in portions)
    covered = taken == order_amount
    _record_transfer(ctx, request, new_order, portions, covered=covered)
    for portion in portions:
        target = "used" if covered else "held"
        move_buckets(ctx, portion.credit_id, available=-portion.amount, **{target: portion.amount})
        ctx.post(
            kind="credit_applied" if covered else "credit_held",
            customer_id=request.customer_id,
            cause=request.request_id,
            effective_at=request.requested_at,
            memo=f"credit {'applied to' if covered else 'held for'} order {new_order.order_id}",
            lines=transfer(
                Account.CREDIT_AVAILABLE,
                Account.CREDIT_APPLIED if covered else Account.CREDIT_HELD,
                portion.amount,
                portion.credit_id,
            ),
            order_id=new_order.order_id,
            credit_id=portion.credit_id,
        )
    if covered:
        ctx.notify(
            CreditApplied(
                customer_id=request.customer_id,
                request_id=request.request_id,
                order_id=new_order.order_id,
                applied=cents_to_decimal(taken),
                from_credits=_portions(portions),
                available_after=cents_to_decimal(usable - taken),
            ),
            cause=request.request_id,
            time=request.requested_at,
        )
        return None
    held = find_open_hold(ctx, new_order.order_id)
    assert held is not None
    # Money already paid counts first, so the customer is asked once, and only for
    # what is still due after all of it.
    _apply_early_topups(ctx, held, request.requested_at)
    still_open = find_open_hold(ctx, new_order.order_id)
    if still_open is not None:
        topup_required(ctx, still_open, cause=request.request_id, at=request.requested_at)
    return None


def _record_transfer(
    ctx: Context,
    request: CreditRequested,
    new_order: NewOrder,
    portions: list[Portion],
    *,
    covered: bool,
) -> None:
    requested_at = request.requested_at
    ctx.uow.connection.execute(
        schema.transfers.insert().values(
            request_id=request.request_id,
            order_id=new_order.order_id,
            customer_id=request.customer_id,
            order_amount_cents=decimal_to_cents(new_order.amount),
            credit_cents=sum(portion.amount for portion in portions),
            status="covered" if covered else "awaiting_topup",
            requested_at=requested_at,
            due_by=None if covered else hold_due_by(requested_at, ctx.policy),
            settled_at=requested_at if covered else None,
        )
    )
    _record_allocations(ctx, request.request_id, portions)
    _set_outcome(ctx, request.request_id, "applied" if covered else "held")


def _apply_early_topups(ctx: Context, held: Row[Any], requested_at: datetime) -> None:
    """Top-ups kept unmatched (paid before the request, or left by a lapsed hold) count
    now, oldest first, until the order is funded; what is left of them stays unmatched."""
    column = schema.topups.c
    early = ctx.uow.connection.execute(
        select(column.event_id, column.customer_id, column.amount_cents)
        .where(column.order_id == held.order_id, column.applied_cents == 0)
        .order_by(column.paid_at, column.event_id)
    ).all()
    for topup in early:
        still_open = find_open_hold(ctx, held.order_id)
        if still_open is None:
            break
        apply_topup(
            ctx,
            still_open,
            topup_event_id=topup.event_id,
            payer_id=topup.customer_id,
            amount=topup.amount_cents,
            at=requested_at,
            early=True,
        )


def _refund(ctx: Context, request: CreditRequested, credits: list[CreditState]) -> Refusal | None:
    choice = refundable_credits(credits, as_of=request.requested_at)
    if isinstance(choice, Refusal):
        return choice
    portions = [Portion(credit.credit_id, credit.available) for credit in choice]
    for portion in portions:
        move_buckets(ctx, portion.credit_id, available=-portion.amount, refunded=portion.amount)
        ctx.post(
            kind="refund_requested",
            customer_id=request.customer_id,
            cause=request.request_id,
            effective_at=request.requested_at,
            memo=f"credit {portion.credit_id} to be refunded",
            lines=transfer(
                Account.CREDIT_AVAILABLE, Account.REFUNDS_PAYABLE, portion.amount, portion.credit_id
            ),
            credit_id=portion.credit_id,
        )
    _record_allocations(ctx, request.request_id, portions)
    _set_outcome(ctx, request.request_id, "refunded")
    ctx.notify(
        RefundRequested(
            customer_id=request.customer_id,
            request_id=request.request_id,
            amount=cents_to_decimal(sum(portion.amount for portion in portions)),
            from_credits=_portions(portions),
        ),
        cause=request.request_id,
        time=request.requested_at,
    )
    return None


def _record_allocations(ctx: Context, request_id: str, portions: list[Portion]) -> None:
    ctx.uow.connection.execute(
        schema.allocations.insert(),
        [
            {"request_id": request_id, "credit_id": p.credit_id, "amount_cents": p.amount}
            for p in portions
        ],
    )


def _set_outcome(ctx: Context, request_id: str, outcome: str, reason: str | None = None) -> None:
    ctx.uow.connection.execute(
        update(schema.credit_requests)
        .where(schema.credit_requests.c.request_id == request_id)
        .values(outcome=outcome, reason=reason)
    )


def _reject(ctx: Context, request: CreditRequested, refusal: Refusal) -> None:
    _set_outcome(ctx, request.request_id, "rejected", refusal.reason)
    ctx.notify(
        RequestRejected(
            customer_id=request.customer_id,
            request_id=request.request_id,
            reason=refusal.reason,
            message=refusal.message,
        ),
        cause=request.request_id,
        time=request.requested_at,
    )


def _portions(portions: list[Portion]) -> list[CreditPortion]:
    return [
        CreditPortion(credit_id=p.credit_id, amount=cents_to_decimal(p.amount)) for p in portions
    ]
