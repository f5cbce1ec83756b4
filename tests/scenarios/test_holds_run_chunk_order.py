"""R6: the lapsed holds of one scheduled run settle to the same books whatever order
its chunks are settled in.

A run's chunks are ``sweep_chunk`` messages that a worker's threads take at once (and
that a redelivery may bring late), so a later chunk may commit before an earlier one.
Holds of one customer interact: two holds of one credit, the credit expiring between
their due dates, settled in key order, the second release forfeits all the credit
holds. Settled the other way round, before the fix, the second forfeited only its own
part and the first then gave its part back to a credit already expired, where it
stayed available. A holds window now settles every lapsed hold of each customer it
names, in key order (``SweepPass.whole_customers``), as a request settles what fell
due for its customer."""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial

import pytest
from scenarios.kit import Books, fail, pay, rome, transfer

from ledger.policy import Policy
from ledger.service import Ledger
from messages import InboundEvent

RUN_DATE = date(2027, 1, 20)
AS_OF = rome(2027, 1, 20, 4, 30)


def _two_holds_of_one_credit(customer: str, first: str, second: str) -> list[InboundEvent]:
    """``first`` holds 70.00 of CR-MI<customer> (due 20 December), ``second`` the 30.00
    given back meanwhile (due 15 January); the credit expires on 10 January."""
    credit_order = f"MI{customer}"
    return [
        pay(credit_order, customer, "100.00", rome(2026, 1, 10)),
        fail(credit_order, rome(2026, 1, 12)),
        transfer(f"{first}-0", customer, f"NO{customer}0", "30.00", rome(2026, 11, 1)),
        transfer(first, customer, f"NO{customer}1", "150.00", rome(2026, 11, 20)),
        fail(f"NO{customer}0", rome(2026, 12, 1)),
        transfer(second, customer, f"NO{customer}2", "100.00", rome(2026, 12, 15)),
    ]


def _one_hold(customer: str, request: str) -> list[InboundEvent]:
    """``request`` holds all 50.00 of an unexpired credit (due 31 December)."""
    credit_order = f"MI{customer}"
    return [
        pay(credit_order, customer, "50.00", rome(2026, 6, 1)),
        fail(credit_order, rome(2026, 6, 2)),
        transfer(request, customer, f"NO{customer}1", "80.00", rome(2026, 12, 1)),
    ]


def _settle(ledger: Books, order: Sequence[int] | None, *, threads: int = 1) -> None:
    """The run of ``RUN_DATE`` with one hold a chunk, its chunks settled in ``order``
    (indexes into the run's chunks; None: by ``threads`` threads at once)."""
    chunked = Ledger(ledger.engine, Policy(), sweep_chunk_size=1)
    chunks = chunked.start_sweep_run("holds", RUN_DATE, AS_OF)
    settle = partial(chunked.settle_sweep_chunk, "holds", RUN_DATE)
    if order is None:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            settled = list(pool.map(settle, chunks))
    else:
        assert sorted(order) == list(range(len(chunks)))
        settled = [settle(chunks[index]) for index in order]
    assert all(each.settled for each in settled)
    assert sum(each.run_completed for each in settled) == 1


def test_holds_of_one_credit_in_two_chunks_settled_out_of_order(ledger: Books) -> None:
    """R1 (70.00 held, due 20 December) and R2 (30.00 held, due 15 January) share
    CR-MI0001, which expires on 10 January. With R2's chunk settled first, the books
    still end as in key order: all 100.00 forfeited when R2 is released."""
    ledger.record(*_two_holds_of_one_credit("0001", "R1", "R2"))

    _settle(ledger, [2, 1, 0])  # R2's chunk, R1's, then the empty last one

    released = {each["order_id"]: each for each in ledger.data("hold.released")}
    assert (released["NO00011"]["forfeited"], released["NO00012"]["forfeited"]) == (
        "0.00",
        "100.00",
    )
    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["held"], credit["forfeited"]) == (0, 0, 10000)


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 2, 0, 3]])
def test_every_chunk_order_writes_the_books_of_key_order(ledger: Books, order: list[int]) -> None:
    """Customer 0001's holds R1 and R3 fall in two chunks, customer 0002's R2 between
    them. Whatever order the four chunks settle in, the journal, the credits and the
    notifications are those of ``Ledger.sweep`` settling the holds in key order."""
    ledger.record(*_two_holds_of_one_credit("0001", "R1", "R3"), *_one_hold("0002", "R2"))

    _settle(ledger, order)

    released = {each["order_id"]: each for each in ledger.data("hold.released")}
    assert {
        order_id: (each["released"], each["forfeited"]) for order_id, each in released.items()
    } == {
        "NO00011": ("70.00", "0.00"),
        "NO00012": ("30.00", "100.00"),
        "NO00021": ("50.00", "0.00"),
    }
    one, two = ledger.credit("CR-MI0001"), ledger.credit("CR-MI0002")
    assert (one["available"], one["held"], one["forfeited"]) == (0, 0, 10000)
    assert (two["available"], two["held"], two["forfeited"]) == (5000, 0, 0)
    completed = ledger.only("sweep.completed")
    assert completed["counts"]["released"] == 3
    assert completed["amounts"]["forfeited"] == "100.00"


def test_a_run_settled_by_four_threads_writes_the_books_of_key_order(ledger: Books) -> None:
    """Twelve customers, each with two holds of one credit in chunks far apart (every
    customer's first hold before any second one): four threads settle the run's
    chunks at once, without a deadlock, and every credit is forfeited whole."""
    customers = [f"{number:04d}" for number in range(1, 13)]
    for customer in customers:
        ledger.record(*_two_holds_of_one_credit(customer, f"A{customer}", f"B{customer}"))

    _settle(ledger, None, threads=4)

    for customer in customers:
        credit = ledger.credit(f"CR-MI{customer}")
        assert (credit["available"], credit["held"], credit["forfeited"]) == (0, 0, 10000)
    completed = ledger.only("sweep.completed")
    assert completed["counts"]["released"] == 24
    assert completed["amounts"]["forfeited"] == f"{len(customers) * 100}.00"
