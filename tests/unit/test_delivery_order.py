"""DeliveryOrder: an event waits for the earlier events in flight about its subjects,
never for others, never past its bound, and gives its ticket back however it ends."""

import threading
import time

import pytest

from workers.delivery_order import DeliveryOrder

# Long enough that a wait which should not happen would be seen; bounds every test.
PATIENCE_S = 5.0


def test_a_later_event_about_the_same_customer_waits_for_the_earlier_one() -> None:
    order = DeliveryOrder(max_wait_s=PATIENCE_S)
    passed: list[str] = []
    taken = threading.Event()

    def later_event() -> None:
        with order.ticket() as second:
            taken.set()
            passed.append(f"second waited={second.wait({'customer:c1'})}")

    with order.ticket() as first:
        first.wait({"customer:c1", "order:A1"})
        waiter = threading.Thread(target=later_event)
        waiter.start()
        assert taken.wait(PATIENCE_S)
        waiter.join(0.2)
        assert waiter.is_alive(), "the later event went ahead of the earlier one"
        passed.append("first done")
    waiter.join(PATIENCE_S)
    assert passed == ["first done", "second waited=True"]
    assert order.in_flight() == 0


def test_the_earlier_event_finishing_releases_the_later_one() -> None:
    order = DeliveryOrder(max_wait_s=PATIENCE_S)
    first_ticket = order.ticket()
    first = first_ticket.__enter__()
    first.wait({"order:A1"})
    outcome: list[bool] = []
    with order.ticket() as second:
        waiter = threading.Thread(target=lambda: outcome.append(second.wait({"order:A1"})))
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive()
        started = time.monotonic()
        first_ticket.__exit__(None, None, None)
        waiter.join(PATIENCE_S)
        assert outcome == [True]
        assert time.monotonic() - started < 1.0


def test_events_about_other_subjects_never_wait() -> None:
    order = DeliveryOrder(max_wait_s=PATIENCE_S)
    with order.ticket() as first, order.ticket() as second:
        first.wait({"customer:c1", "order:A1"})
        started = time.monotonic()
        assert second.wait({"customer:c2", "order:B2"}) is False
        assert time.monotonic() - started < 1.0


def test_an_earlier_event_not_yet_named_holds_the_later_ones() -> None:
    """Until an earlier event names its subjects it could be about anyone."""
    order = DeliveryOrder(max_wait_s=PATIENCE_S)
    outcome: list[bool] = []
    with order.ticket() as first, order.ticket() as second:
        waiter = threading.Thread(target=lambda: outcome.append(second.wait({"customer:c9"})))
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive()
        first.wait({"customer:c1"})  # named, and about someone else: the second goes
        waiter.join(PATIENCE_S)
        assert outcome == [True]


def test_an_earlier_event_never_waits_for_a_later_one() -> None:
    order = DeliveryOrder(max_wait_s=PATIENCE_S)
    with order.ticket() as first, order.ticket() as second:
        second_named = threading.Thread(target=lambda: second.wait({"customer:c1"}))
        second_named.start()
        started = time.monotonic()
        assert first.wait({"customer:c1"}) is False
        assert time.monotonic() - started < 1.0
    second_named.join(PATIENCE_S)


def test_a_wait_never_lasts_longer_than_its_bound() -> None:
    """Ordering saves work, it is not what correctness rests on: an event stuck ahead
    (a long derivation, a thread that never names its subjects) holds others only so long."""
    order = DeliveryOrder(max_wait_s=0.3)
    with order.ticket(), order.ticket() as second:
        started = time.monotonic()
        second.wait({"customer:c1"})
        waited = time.monotonic() - started
    assert 0.3 <= waited < 2.0


def test_a_ticket_is_given_back_when_its_event_fails() -> None:
    order = DeliveryOrder(max_wait_s=PATIENCE_S)
    with pytest.raises(RuntimeError), order.ticket():
        raise RuntimeError("the event failed")
    assert order.in_flight() == 0
    with order.ticket() as later:
        assert later.wait({"customer:c1"}) is False


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_wait_s"):
        DeliveryOrder(max_wait_s=-1)


def test_the_bound_is_one_per_event_however_often_it_waits() -> None:
    """An event whose subjects grow after a wait waits again, within the same bound."""
    order = DeliveryOrder(max_wait_s=1.0)
    with order.ticket(), order.ticket() as second:
        started = time.monotonic()
        second.wait({"order:A1"})
        second.wait({"order:A1", "customer:c1"})
        second.wait({"order:A1", "customer:c1", "customer:c2"})
        waited = time.monotonic() - started
    # A bound per wait would have held it three seconds.
    assert 1.0 <= waited < 2.0
