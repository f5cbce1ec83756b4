"""Attack on issue 7, "nothing silent": an activation parked while its order awaited the
top-up, left parked for good once the order failed.

For an order paid by card, `activation.completed` then `activation.failed` ends in a
refusal reported to ops whatever the arrival order. For an order paid with credit whose
top-up is awaited, the completed activation is parked (README "Events before their
order") and the failure that follows releases the hold: the parked event can then never
apply, and nobody is told. This test fails on the code of issue 7's fix.
"""

from scenarios.kit import Books
from sqlalchemy import select

from ledger.store import schema


def test_an_activation_parked_for_the_topup_is_reported_when_the_order_fails(
    ledger: Books,
) -> None:
    """Handed as `cases/attack7/activation_parked_while_awaiting_topup_then_failure`.
    Seen: evt-4 stays `parked` in the inbox, no `event.rejected`."""
    ledger.replay_case("attack7/activation_parked_while_awaiting_topup_then_failure")

    with ledger.engine.connect() as connection:
        parked = (
            connection.execute(
                select(schema.inbox.c.event_id).where(schema.inbox.c.status == "parked")
            )
            .scalars()
            .all()
        )
    assert parked == []
    assert [each["event_id"] for each in ledger.data("event.rejected")] == ["evt-4"]
