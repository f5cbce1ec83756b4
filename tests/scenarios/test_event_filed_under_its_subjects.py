"""An event is filed under every subject it names and every customer who owns an order
it names, on each backend alike (``timeline.file_and_judge``: one statement on
PostgreSQL, three on SQLite; found by review of the statement's merge)."""

from scenarios.kit import CUSTOMER, OTHER_CUSTOMER, Books, activate, fail, pay, rome, transfer
from sqlalchemy import select

from ledger.service import Recorded
from ledger.store import schema
from messages import InboundEvent


def filed_under(ledger: Books, event: InboundEvent) -> set[str]:
    column = schema.event_subjects.c
    with ledger.engine.connect() as connection:
        return set(
            connection.execute(select(column.subject).where(column.event_id == event.id)).scalars()
        )


def test_a_request_naming_several_credits_is_filed_under_each_order_and_its_owner(
    ledger: Books,
) -> None:
    """A request names its new order and, by their ids, credits of two customers' orders
    and of an order nobody paid: it is filed under each order, under the requester, and
    under the other customer who paid one of them; an order nobody paid adds no owner."""
    ledger.record(
        pay("MI0001", CUSTOMER, "10.00", rome(2026, 1, 10)),
        fail("MI0001", rome(2026, 1, 11)),
        pay("MI0002", OTHER_CUSTOMER, "20.00", rome(2026, 1, 10)),
        fail("MI0002", rome(2026, 1, 11)),
    )
    request = transfer(
        "REQ-1",
        CUSTOMER,
        "NO0001",
        "5.00",
        rome(2026, 1, 12),
        credit_ids=["CR-MI0001", "CR-MI0002", "CR-MI0009"],
    )

    ledger.record(request)

    assert filed_under(ledger, request) == {
        f"customer:{CUSTOMER}",
        f"customer:{OTHER_CUSTOMER}",
        "order:NO0001",
        "order:MI0001",
        "order:MI0002",
        "order:MI0009",
    }


def test_an_activation_is_filed_under_the_customer_who_paid_with_credit(ledger: Books) -> None:
    """An activation names its order only: the customer who paid it with credit (a
    transfer, not a card payment) is read as its owner, and a redelivery files nothing
    more."""
    ledger.record(
        pay("MI0001", CUSTOMER, "10.00", rome(2026, 1, 10)),
        fail("MI0001", rome(2026, 1, 11)),
        transfer("REQ-1", CUSTOMER, "NO0001", "5.00", rome(2026, 1, 12)),
    )
    live = activate("NO0001", rome(2026, 1, 13))

    assert ledger.record(live, live) == [Recorded.APPLIED, Recorded.DUPLICATE]
    assert filed_under(ledger, live) == {f"customer:{CUSTOMER}", "order:NO0001"}


def test_an_activation_before_any_payment_is_filed_under_its_order_alone(ledger: Books) -> None:
    """Nobody owns the order yet (no payment, no request): no owner is read, no
    customer filed."""
    early = fail("MI0001", rome(2026, 1, 11))

    ledger.record(early)

    assert filed_under(ledger, early) == {"order:MI0001"}
