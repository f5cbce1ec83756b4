"""A top-up whose order gained its hold's customer between the read of its subjects
and its locks (the request committed meanwhile, in another worker process) starts
again, reading the owner, before it releases that customer's lapsed holds: it holds
the customer's lock and is filed under the customer. It used to go on without them,
since the ledger read the subjects again once locked only for an event
that names no customer, and a top-up names its payer (found by review)."""

from collections.abc import Collection

from scenarios.kit import Books, rome, topup
from scenarios.test_holds_run_chunk_order import _two_holds_of_one_credit
from sqlalchemy import select

from ledger.store import schema


def test_a_topup_that_releases_a_customers_holds_holds_the_customers_lock(ledger: Books) -> None:
    """R1 (due 20 December) is recorded; R2's request for NO00012 commits while
    0002's top-up for NO00012, paid on 16 January, waits for its turn, its subjects
    read (no owner yet). The top-up then releases R1 and R2 of customer 0001 (R1's
    order it does not even name) under the locks of customer 0002 and NO00012 only."""
    *before, second = _two_holds_of_one_credit("0001", "R1", "R2")
    ledger.record(*before)
    late = topup("NO00012", "0002", "5.00", rome(2027, 1, 16))

    def request_commits_meanwhile(subjects: Collection[str]) -> bool:
        ledger.record(second)
        return False  # this worker had nothing of its own to wait for

    ledger.ledger.record(late, in_turn=request_commits_meanwhile)

    released = {each["order_id"] for each in ledger.data("hold.released")}
    assert released == {"NO00011", "NO00012"}
    filed = select(schema.event_subjects.c.subject).where(
        schema.event_subjects.c.event_id == late.id
    )
    with ledger.engine.connect() as connection:
        subjects = set(connection.execute(filed).scalars())
    assert "customer:0001" in subjects
