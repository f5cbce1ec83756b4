"""What fell due for one customer by an instant, settled before an event is judged then.

Events are judged at their own business time. A request, or a top-up paid after its
hold lapsed, may come before the daily sweeps have settled what fell due by then; the
sweeps' effects are settled first, for the customer, exactly as the sweeps would have.
"""

from datetime import datetime
from typing import Final

from sqlalchemy import bindparam, exists, select

from ledger.context import Context
from ledger.holds import LAPSED_HOLD, release_lapsed_holds_of
from ledger.orders import cancel_spid_order
from ledger.store import schema

__all__ = ["settle_what_fell_due"]

_ORDER = schema.orders.c
_IS_OVERDUE: Final = (
    (_ORDER.customer_id == bindparam("customer_id"))
    & (_ORDER.status == "awaiting_activation")
    & (_ORDER.activation_deadline <= bindparam("as_of", type_=_ORDER.activation_deadline.type))
)
# Asked at every request, so built once.
_ANY_FELL_DUE: Final = select(exists().where(_IS_OVERDUE), exists().where(LAPSED_HOLD))
_OVERDUE_ORDERS: Final = (
    select(schema.orders).where(_IS_OVERDUE).order_by(_ORDER.order_id).with_for_update()
)


def settle_what_fell_due(ctx: Context, customer_id: str, as_of: datetime) -> None:
    """Settle what fell due for ``customer_id`` by ``as_of`` (a UTC instant), whether or
    not the sweeps ran by then: before a request is judged at ``requested_at``, and
    before a top-up paid after its hold lapsed is judged at ``paid_at``.

    A SPID order overdue by then was already cancelled and its credit exists (R5); a
    hold lapsed by then was already released (R6), all of the customer's in key order,
    as a holds run releases them (``SweepPass.whole_customers``: holds of one credit
    act on each other). Both are settled here exactly as the sweep settles them (same
    dates, same causes), so the sweep finds nothing left to do and a backlog writes the
    books punctual sweeps would have written. The caller holds the customer's lock.
    """
    due = {"customer_id": customer_id, "as_of": as_of}
    # Nearly always neither: asked in one round trip, the rows read only when there.
    any_overdue, any_lapsed = ctx.uow.connection.execute(_ANY_FELL_DUE, due).one()
    if any_overdue:
        overdue = ctx.uow.connection.execute(_OVERDUE_ORDERS, due).all()
        for row in overdue:
            cancel_spid_order(ctx, row, cause=f"spid_timeout|{row.order_id}")
    if any_lapsed:
        release_lapsed_holds_of(ctx, customer_id, as_of)
