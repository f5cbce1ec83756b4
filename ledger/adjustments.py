"""Operator adjustments (``residuo adjust``): what each books, and when it is refused.

An adjustment is applied like an event, at its business time, and again in its turn
whenever its customer's books are derived again (``ledger.corrections``), so a
correction by hand is never undone by a correction by the books. Each moves money
only between a credit's buckets and the provider's accounts, with an entry whose kind
says so, and is told to the customer (``credit.adjusted``):

* **reinstate**: forfeited credit made usable again (breakage → available), with a new
  expiry when the old one has passed (never an earlier one: the credit has one expiry,
  and the part no one forfeited keeps its own);
* **extend**: the expiry of a credit still usable moved later. No money moves, so
  there is no entry: the new date is on the credit, in the notification and in the
  adjustment kept. A credit already expired is refused: R4 forfeited its remainder at
  the expiry whether or not a sweep has run, and only a reinstatement brings it back;
* **void**: usable credit taken back (available → breakage);
* **goodwill**: a new credit, funded by the provider's goodwill account.

None ever makes a bucket negative: an adjustment that would is refused (the operator's
command fails, and nothing is kept). Re-applied in a derivation, a void or a
reinstatement may find less in its bucket than it once took (a late transfer spent
part of the credit first): it takes what is there, its entry's memo saying what was
asked, so the operator's decision stands as far as the books allow, and the
correction tells the customer the amount it now has. Only an empty bucket refuses it
then (reported to ops as any refusal).
"""

from datetime import datetime

from sqlalchemy import update

from ledger.books import Account, transfer
from ledger.context import Context
from ledger.credit_book import forfeit, grant_credit, load_credits, move_buckets
from ledger.money import cents_to_decimal, decimal_to_cents
from ledger.outcomes import APPLIED, Applied
from ledger.rules import CreditState
from ledger.store import schema
from messages.adjustments import Adjustment
from messages.corrections import AdjustmentAction, CreditAdjusted

__all__ = ["apply_adjustment"]


def apply_adjustment(ctx: Context, adjustment: Adjustment) -> Applied:
    """Book ``adjustment`` at its business time; refused (nothing booked) when it would
    take from a bucket more than it holds, or names a credit the customer lacks."""
    data = adjustment.data
    if adjustment.type == "adjustment.goodwill":
        return _goodwill(ctx, adjustment)
    assert data.credit_id is not None
    credits = load_credits(ctx, credit_ids=[data.credit_id])
    if not credits or credits[0].customer_id != data.customer_id:
        return Applied.refused(
            "unknown_credit", f"{data.customer_id} has no credit {data.credit_id}"
        )
    credit = credits[0]
    if adjustment.type == "adjustment.reinstate":
        return _reinstate(ctx, adjustment, credit)
    if adjustment.type == "adjustment.void":
        return _void(ctx, adjustment, credit)
    return _extend(ctx, adjustment, credit)


def _reinstate(ctx: Context, adjustment: Adjustment, credit: CreditState) -> Applied:
    data, at = adjustment.data, adjustment.time
    assert data.amount is not None
    asked = decimal_to_cents(data.amount)
    if not credit.is_usable(at) and credit.available:
        # R4 forfeited the remainder at the expiry, whether or not the sweep has come
        # by yet: settle it here as the sweep would (same entry, same notification),
        # so a reinstatement finds the same bucket either way.
        forfeit(ctx, credit, at=credit.forfeited_at, cause=f"{credit.credit_id}|expiry")
        credit = credit.with_remainder_forfeited()
    cents = _what_it_takes(ctx, adjustment, asked, credit.forfeited)
    if cents is None:
        return _too_much(credit, "forfeited", asked, credit.forfeited)
    if data.until is not None and data.until < credit.expires_at:
        # One expiry per credit: an earlier date would shorten what no one forfeited.
        return Applied.refused(
            "shortens_credit",
            f"{credit.credit_id} runs until {ctx.local(credit.expires_at).isoformat()}: "
            "a reinstatement never moves its expiry earlier",
        )
    expires_at = data.until or credit.expires_at
    if at >= expires_at:
        return Applied.refused(
            "credit_expired",
            f"{credit.credit_id} expired on {ctx.local(credit.expires_at).isoformat()}: "
            "reinstate it with a later expiry (until)",
        )
    _set_expiry(ctx, credit.credit_id, expires_at)
    move_buckets(ctx, credit.credit_id, forfeited=-cents, available=cents)
    _post(
        ctx,
        adjustment,
        "credit_reinstated",
        debit=Account.BREAKAGE,
        credit=Account.CREDIT_AVAILABLE,
        cents=cents,
        asked=asked,
    )
    _tell(ctx, adjustment, "reinstated", cents, expires_at)
    return APPLIED


def _void(ctx: Context, adjustment: Adjustment, credit: CreditState) -> Applied:
    data = adjustment.data
    assert data.amount is not None
    asked = decimal_to_cents(data.amount)
    cents = _what_it_takes(ctx, adjustment, asked, credit.available)
    if cents is None:
        return _too_much(credit, "available", asked, credit.available)
    move_buckets(ctx, credit.credit_id, available=-cents, forfeited=cents)
    _post(
        ctx,
        adjustment,
        "credit_voided",
        debit=Account.CREDIT_AVAILABLE,
        credit=Account.BREAKAGE,
        cents=cents,
        asked=asked,
    )
    _tell(ctx, adjustment, "voided", cents, credit.expires_at)
    return APPLIED


def _extend(ctx: Context, adjustment: Adjustment, credit: CreditState) -> Applied:
    until = adjustment.data.until
    assert until is not None
    if not credit.is_usable(adjustment.time) and not ctx.applies_again(adjustment.id):
        # R4 forfeited what was left at the expiry, whether or not a sweep has run yet;
        # moving the date moves no money back: that is a reinstatement. Applied again by
        # a derivation that moved the expiry earlier, the operator's extension of a
        # credit usable when they acted stands (a correction by the books never undoes
        # one by hand).
        return Applied.refused(
            "credit_expired",
            f"{credit.credit_id} expired on {ctx.local(credit.expires_at).isoformat()}: "
            "reinstate what was forfeited with a new expiry (until)",
        )
    if until <= credit.expires_at:
        return Applied.refused(
            "not_an_extension",
            f"{credit.credit_id} already runs until {ctx.local(credit.expires_at).isoformat()}",
        )
    _set_expiry(ctx, credit.credit_id, until)
    _tell(ctx, adjustment, "extended", None, until)
    return APPLIED


def _goodwill(ctx: Context, adjustment: Adjustment) -> Applied:
    data, at = adjustment.data, adjustment.time
    assert data.amount is not None and data.until is not None
    if data.until <= at:
        return Applied.refused("credit_expired", "a goodwill credit must expire after it is given")
    cents = decimal_to_cents(data.amount)
    credit_id = grant_credit(
        ctx,
        customer_id=data.customer_id,
        origin="goodwill",
        source_order_id=adjustment.id.upper(),
        amount_cents=cents,
        granted_at=at,
        expires_at=data.until,
        cause=adjustment.id,
        funded_by=Account.GOODWILL,
        memo=f"goodwill credit by {data.operator}: {data.reason}",
    )
    assert credit_id is not None  # the adjustment's id is claimed once, so is its credit
    _tell(ctx, adjustment, "goodwill", cents, data.until, credit_id=credit_id)
    return APPLIED


def _what_it_takes(ctx: Context, adjustment: Adjustment, asked: int, held: int) -> int | None:
    """What a void or reinstatement asking ``asked`` cents of a bucket holding ``held``
    takes: all it asks when the bucket holds it; applied again by a derivation, what
    is left (module doc); otherwise None, refused."""
    if asked <= held:
        return asked
    if ctx.applies_again(adjustment.id) and held > 0:
        return held
    return None


def _too_much(credit: CreditState, bucket: str, asked: int, held: int) -> Applied:
    return Applied.refused(
        "amount_too_large",
        f"{credit.credit_id} has {cents_to_decimal(held)} {bucket}, not {cents_to_decimal(asked)}",
    )


def _set_expiry(ctx: Context, credit_id: str, expires_at: datetime) -> None:
    ctx.uow.connection.execute(
        update(schema.credits)
        .where(schema.credits.c.credit_id == credit_id)
        .values(expires_at=expires_at)
    )


def _post(
    ctx: Context,
    adjustment: Adjustment,
    kind: str,
    *,
    debit: Account,
    credit: Account,
    cents: int,
    asked: int,
) -> None:
    data = adjustment.data
    assert data.credit_id is not None
    memo = f"{kind.replace('_', ' ')} by {data.operator}: {data.reason}"
    if asked != cents:
        memo += f" ({cents_to_decimal(asked)} asked, {cents_to_decimal(cents)} left to take)"
    ctx.post(
        kind=kind,
        customer_id=data.customer_id,
        cause=adjustment.id,
        effective_at=adjustment.time,
        memo=memo,
        lines=transfer(debit, credit, cents, data.credit_id),
        credit_id=data.credit_id,
    )


def _tell(
    ctx: Context,
    adjustment: Adjustment,
    action: AdjustmentAction,
    cents: int | None,
    expires_at: datetime,
    *,
    credit_id: str | None = None,
) -> None:
    data = adjustment.data
    credit = credit_id or data.credit_id
    assert credit is not None
    ctx.notify(
        CreditAdjusted(
            customer_id=data.customer_id,
            credit_id=credit,
            action=action,
            amount=None if cents is None else cents_to_decimal(cents),
            expires_at=ctx.local(expires_at),
            adjustment_id=adjustment.id,
            operator=data.operator,
            reason=data.reason,
        ),
        cause=adjustment.id,
        time=adjustment.time,
    )
