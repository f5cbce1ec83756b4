"""attack12: a late payment that moves a SPID deadline by a day sends the 30-day
reminder a second time (R10, migration 0008_reminders).

SPEC R10: ``spid.deadline_approaching`` at 30 and 7 days before a SPID activation
deadline, "each reminder at most once". docs/late-evidence.md, Limits: reminders are
advice of the moment and "not derived again". 0008 keys a reminder by its deadline so
that a credit an *operator* gives a new expiry is reminded of it (``_due_reminders``:
"the credit's expiry moved since by an operator"). But a deadline also moves when late
evidence re-derives an order: SP0001 paid on 10 January (deadline 10 April) is reminded
on 11 March (30 days left); a duplicate card payment of 9 January then arrives late,
the order's deadline becomes 9 April, and the next daily sweep sends the 30-day mark
again ("days_left": 28), while the first reminder still stands, unvoided. The customer
expects one reminder per mark: the 30-day mark was told; the next is the 7-day one.
"""

from scenarios.kit import CUSTOMER, Books, pay, rome


def test_a_deadline_moved_by_late_evidence_is_not_reminded_twice_at_one_mark(
    ledger: Books,
) -> None:
    ledger.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 10, 9, 30), service="spid"))
    ledger.sweep("reminders", rome(2026, 3, 11, 12))
    assert [each["days_left"] for each in ledger.data("spid.deadline_approaching")] == [30]

    ledger.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 1, 9, 9, 30), service="spid"))
    ledger.sweep("reminders", rome(2026, 3, 12, 12))

    assert [each["days_left"] for each in ledger.data("spid.deadline_approaching")] == [30]
