"""The SPID-timeout and holds sweeps settle a window set-based
(``ledger.sweep_settlement``), and write exactly what the row-by-row functions events
use (``cancel_spid_order``, ``release_hold``) write on the same data: the same rows,
the same journal entries and postings in the same order, the same notifications with
the same ids in the same outbox order, the same tallies.

Each side settles the same due rows in a transaction of its own, read back before
it rolls back, so both start from the very same books."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from scenarios.kit import (
    CUSTOMER,
    OTHER_CUSTOMER,
    Books,
    activate,
    fail,
    pay,
    rome,
    topup,
    transfer,
)
from sqlalchemy import Connection, Row, Table, select

from ledger.context import Context
from ledger.holds import release_hold
from ledger.orders import cancel_spid_order
from ledger.policy import Policy
from ledger.store import schema
from ledger.store.uow import UnitOfWork
from ledger.sweep_settlement import cancel_overdue_spid_orders, release_lapsed_holds
from ledger.sweeps import PASSES

RECORDED_AT = datetime(2027, 2, 1, 12, tzinfo=UTC)

Settle = Callable[[Context, Sequence[Row[Any]]], object]


def _rows(connection: Connection, table: Table, order_by: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(select(table).order_by(order_by))]


def _written(connection: Connection) -> dict[str, Any]:
    """The books as they stand, ids drawn from sequences left out (a rolled-back
    transaction on PostgreSQL still consumed them): entries in id order with their
    postings, the outbox in position order."""
    entry, posting, outbox = schema.journal_entries.c, schema.postings.c, schema.outbox.c
    lines: dict[int, list[tuple[Any, ...]]] = {}
    for row in connection.execute(
        select(
            posting.entry_id,
            posting.account,
            posting.customer_id,
            posting.credit_id,
            posting.amount_cents,
        ).order_by(posting.posting_id)
    ):
        lines.setdefault(row.entry_id, []).append(tuple(row)[1:])
    journal = [
        (*tuple(row)[1:], tuple(lines[row.entry_id]))
        for row in connection.execute(select(schema.journal_entries).order_by(entry.entry_id))
    ]
    notifications = [
        tuple(row)
        for row in connection.execute(
            select(outbox.notification_id, outbox.type, outbox.customer_id, outbox.payload)
            .add_columns(outbox.created_at, outbox.published_at)
            .order_by(outbox.position)
        )
    ]
    return {
        "journal": journal,
        "outbox": notifications,
        "orders": _rows(connection, schema.orders, schema.orders.c.order_id),
        "credits": _rows(connection, schema.credits, schema.credits.c.credit_id),
        "transfers": _rows(connection, schema.transfers, schema.transfers.c.request_id),
        "topups": _rows(connection, schema.topups, schema.topups.c.event_id),
    }


def _settled_by(books: Books, pass_name: str, as_of: datetime, settle: Settle) -> Any:
    """What ``settle`` writes over the due rows of ``pass_name`` at ``as_of``, and returns;
    nothing is committed."""
    sweep_pass = PASSES[pass_name]
    with UnitOfWork(books.engine) as uow:
        ctx = Context(uow=uow, policy=Policy(), recorded_at=RECORDED_AT)
        due = (
            select(sweep_pass.table)
            .where(sweep_pass.due(as_of, ctx.policy))
            .order_by(sweep_pass.key)
        )
        rows = uow.connection.execute(due.with_for_update()).all()
        returned = settle(ctx, rows)
        return returned, _written(uow.connection), len(rows)


def test_spid_timeouts_set_based_write_what_cancel_spid_order_writes(ledger: Books) -> None:
    """Three overdue SPID orders of two customers (one activated in time is not due):
    the same cancellations, credits, grants and notifications either way."""
    ledger.record(
        pay("SP0003", CUSTOMER, "49.90", rome(2026, 1, 10), service="spid"),
        pay("SP0001", OTHER_CUSTOMER, "19.90", rome(2026, 1, 12), service="SPID"),
        pay("SP0002", CUSTOMER, "29.90", rome(2026, 2, 3), service="spid"),
        pay("SP0004", CUSTOMER, "9.90", rome(2026, 1, 10), service="spid"),
        activate("SP0004", rome(2026, 2, 1)),
        pay("HO0001", CUSTOMER, "100.00", rome(2026, 1, 10)),
    )
    as_of = rome(2026, 6, 1, 4, 30)

    def row_by_row(ctx: Context, rows: Sequence[Row[Any]]) -> list[str | None]:
        return [
            cancel_spid_order(ctx, order, cause=f"spid_timeout|{order.order_id}") for order in rows
        ]

    def set_based(ctx: Context, rows: Sequence[Row[Any]]) -> list[str | None]:
        granted = {order.order_id for order in cancel_overdue_spid_orders(ctx, rows)}
        return [f"CR-{order.order_id}" if order.order_id in granted else None for order in rows]

    expected, expected_books, due = _settled_by(ledger, "spid_timeout", as_of, row_by_row)
    returned, books, _ = _settled_by(ledger, "spid_timeout", as_of, set_based)

    assert due == 3
    assert expected == ["CR-SP0001", "CR-SP0002", "CR-SP0003"]
    assert returned == expected
    assert books == expected_books


def test_lapsed_holds_set_based_write_what_release_hold_writes(ledger: Books) -> None:
    """Two lapsed holds share a credit (money given back refilled it between them), the
    first part-paid by a top-up quoting its order in lower case, the credit expiring
    between their due dates so the second forfeits what the first released; a third
    hold of another customer on an unexpired credit. The same releases, forfeitures,
    returned top-ups, entries and notifications either way."""
    ledger.record(
        pay("MI0001", CUSTOMER, "100.00", rome(2026, 1, 10)),
        fail("MI0001", rome(2026, 1, 12)),
        pay("MI0002", OTHER_CUSTOMER, "40.00", rome(2026, 6, 1)),
        fail("MI0002", rome(2026, 6, 2)),
        # R0 covers NO0000 (30 used, 70 left); R1 holds those 70 for NO0001.
        transfer("R0", CUSTOMER, "NO0000", "30.00", rome(2026, 11, 1)),
        transfer("R1", CUSTOMER, "NO0001", "150.00", rome(2026, 11, 20)),
        topup("no0001", CUSTOMER, "20.00", rome(2026, 11, 25)),
        # NO0000 fails: its 30 go back to CR-MI0001, and R2 holds them for NO0002.
        fail("NO0000", rome(2026, 12, 1)),
        transfer("R2", CUSTOMER, "NO0002", "100.00", rome(2026, 12, 15)),
        transfer("R3", OTHER_CUSTOMER, "NO0003", "90.00", rome(2026, 12, 16)),
    )
    as_of = rome(2027, 1, 20, 4, 30)

    def row_by_row(ctx: Context, rows: Sequence[Row[Any]]) -> list[tuple[int, int]]:
        return [release_hold(ctx, held, cause=f"holds|{held.request_id}") for held in rows]

    def set_based(ctx: Context, rows: Sequence[Row[Any]]) -> list[tuple[int, int]]:
        return [(hold.released, hold.forfeited) for hold in release_lapsed_holds(ctx, rows)]

    expected, expected_books, due = _settled_by(ledger, "holds", as_of, row_by_row)
    returned, books, _ = _settled_by(ledger, "holds", as_of, set_based)

    assert due == 3
    # R1 releases 70 (the credit still usable on 20 December); R2 releases 30 on
    # 15 January, after the credit expired on 10 January: all 100 are forfeited.
    assert expected == [(7000, 0), (3000, 10000), (4000, 0)]
    assert returned == expected
    assert books == expected_books
    assert any("payment.unmatched" in row[1] for row in books["outbox"])
