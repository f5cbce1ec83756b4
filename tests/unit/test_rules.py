"""The credit rules as pure functions: no database, no clock, plain data in and out."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ledger.policy import Origin, Policy
from ledger.rules import (
    CreditState,
    Portion,
    Refusal,
    TopupReference,
    allocate,
    credit_expiry,
    days_left,
    hold_due_by,
    read_topup_reference,
    refundable_credits,
    reminder_to_send,
    settle_topup,
    spendable_credits,
    spid_credit_expiry,
    spid_deadline,
)

ROME = ZoneInfo("Europe/Rome")
POLICY = Policy()


def rome(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ROME)


A_YEAR_ON = rome(2027, 1, 10)
GRANTED = rome(2026, 1, 11)
ASKED = rome(2026, 6, 1)


def credit(
    credit_id: str,
    available: int,
    *,
    expires_at: datetime = A_YEAR_ON,
    granted_at: datetime = GRANTED,
    origin: Origin = "activation_failed",
    source_order_id: str | None = None,
    held: int = 0,
) -> CreditState:
    return CreditState(
        credit_id=credit_id,
        customer_id="1234567@aruba.it",
        origin=origin,
        source_order_id=source_order_id or credit_id.removeprefix("CR-"),
        granted_at=granted_at,
        expires_at=expires_at,
        available=available,
        held=held,
        refundable=POLICY.is_refundable(origin),
    )


def spendable(
    credits: list[CreditState],
    *,
    order: str = "MI0100",
    purpose: str = "purchase",
    as_of: datetime = ASKED,
) -> list[CreditState] | Refusal:
    return spendable_credits(
        credits,
        new_order_id=order,
        purpose=purpose,  # type: ignore[arg-type]
        as_of=as_of,
        policy=POLICY,
    )


def ids(result: list[CreditState] | Refusal) -> list[str]:
    assert not isinstance(result, Refusal), result
    return [each.credit_id for each in result]


# R2: expiry --------------------------------------------------------------------------


def test_credit_is_usable_until_just_before_expires_at() -> None:
    """Usable while now < expires_at: one microsecond before yes, at the instant no."""
    expires_at = rome(2027, 1, 10, 9, 30)
    state = credit("CR-MI0001", 100, expires_at=expires_at)
    assert state.is_usable(expires_at - timedelta(microseconds=1))
    assert not state.is_usable(expires_at)
    assert not state.is_usable(expires_at + timedelta(days=1))


def test_credit_expires_twelve_months_after_payment() -> None:
    """The validity is counted from paid_at, in policy months."""
    assert credit_expiry(rome(2026, 1, 10, 9, 30), POLICY) == rome(2027, 1, 10, 9, 30)
    assert credit_expiry(rome(2024, 2, 29, 9, 30), POLICY) == rome(2025, 2, 28, 9, 30)


def test_spid_deadline_is_ninety_calendar_days_at_the_same_time() -> None:
    """SPEC R5: 90 calendar days later, same wall-clock time in Rome."""
    assert spid_deadline(rome(2026, 1, 10, 9, 30), POLICY) == rome(2026, 4, 10, 9, 30)


def test_spid_credit_is_anchored_on_payment_by_default() -> None:
    """The default anchor is paid_at; the cancelled_at anchor counts from cancellation."""
    paid, cancelled = rome(2026, 1, 10, 9, 30), rome(2026, 4, 10, 9, 30)
    assert spid_credit_expiry(paid, cancelled, POLICY) == rome(2027, 1, 10, 9, 30)
    by_cancellation = Policy(spid_credit_anchor="cancelled_at")
    assert spid_credit_expiry(paid, cancelled, by_cancellation) == rome(2027, 4, 10, 9, 30)


def test_a_hold_lapses_after_the_hold_window() -> None:
    """30 calendar days from the request by default, at the same wall-clock time."""
    assert hold_due_by(rome(2026, 3, 15, 18), POLICY) == rome(2026, 4, 14, 18)
    assert hold_due_by(rome(2026, 3, 15, 18), Policy(hold_window_days=45)) == rome(2026, 4, 29, 18)


# R6: which credit pays first -----------------------------------------------------------


def test_soonest_expiring_credit_is_spent_first() -> None:
    """Spending order follows expires_at, whatever the order the credits are listed in."""
    late = credit("CR-A", 100, expires_at=rome(2027, 5, 1))
    soon = credit("CR-B", 100, expires_at=rome(2027, 2, 1))
    middle = credit("CR-C", 100, expires_at=rome(2027, 3, 1))
    assert ids(spendable([late, soon, middle])) == ["CR-B", "CR-C", "CR-A"]


def test_ties_on_expiry_are_broken_oldest_first() -> None:
    """Same expiry: the credit granted first is spent first, not the smaller id."""
    newer = credit("CR-A", 100, granted_at=rome(2026, 2, 1))
    older = credit("CR-Z", 100, granted_at=rome(2026, 1, 15))
    assert ids(spendable([newer, older])) == ["CR-Z", "CR-A"]


def test_full_ties_fall_back_to_credit_id_for_a_stable_order() -> None:
    """Same expiry and age: credit id decides, so a replay spends the same credits."""
    assert ids(spendable([credit("CR-B", 1), credit("CR-A", 1)])) == ["CR-A", "CR-B"]


def test_allocation_takes_across_credits_in_the_order_given() -> None:
    """An amount larger than the first credit continues onto the next; the rest stays."""
    credits = [credit("CR-A", 3000), credit("CR-B", 5000), credit("CR-C", 9000)]
    assert allocate(credits, 6000) == [Portion("CR-A", 3000), Portion("CR-B", 3000)]


def test_allocation_of_an_exact_amount_stops_at_that_credit() -> None:
    """Nothing is taken from a credit once the amount is reached."""
    credits = [credit("CR-A", 3000), credit("CR-B", 5000)]
    assert allocate(credits, 3000) == [Portion("CR-A", 3000)]


def test_allocation_short_of_the_amount_takes_everything() -> None:
    """Not enough credit: every credit is taken whole (the caller holds it)."""
    credits = [credit("CR-A", 3000), credit("CR-B", 5000)]
    assert allocate(credits, 10000) == [Portion("CR-A", 3000), Portion("CR-B", 5000)]


def test_spent_held_and_expired_credits_are_not_spendable() -> None:
    """Only remainders (not held parts) of credits still valid at as_of can pay."""
    spent = credit("CR-A", 0, held=500)
    expired = credit("CR-B", 100, expires_at=rome(2026, 6, 1))
    valid = credit("CR-C", 100)
    assert ids(spendable([spent, expired, valid], as_of=rome(2026, 6, 1))) == ["CR-C"]


def test_credit_never_pays_the_order_that_produced_it() -> None:
    """R3: the credit born of MI0001 is skipped for MI0001; other credits still pay."""
    own = credit("CR-MI0001", 100, source_order_id="MI0001")
    other = credit("CR-MI0002", 100, source_order_id="MI0002")
    assert ids(spendable([own, other], order="MI0001")) == ["CR-MI0002"]


def test_a_fully_held_credit_is_refused_as_held_not_as_missing() -> None:
    """A credit held whole for another order is there, just not free: ``credit_held``."""
    held = credit("CR-A", 0, held=100)
    assert spendable([held]) == Refusal(
        "credit_held",
        "The credit on this account is held for an order awaiting its top-up payment.",
    )
    held_spid = credit("CR-S", 0, held=100, origin="spid_timeout")
    refusal = refundable_credits([held_spid], as_of=rome(2026, 3, 1))
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "credit_held"


def test_held_credit_that_could_serve_is_the_answer_whatever_else_is_available() -> None:
    """The only credit that may pay a modification (or be refunded) is held; another,
    which may not, is available: the customer is told theirs is held, not "not allowed"."""
    held = credit("CR-AF", 0, held=100)
    spid = credit("CR-SP", 100, origin="spid_timeout")
    refusal = spendable([held, spid], purpose="modification")
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "credit_held"
    held_spid = credit("CR-SP2", 0, held=100, origin="spid_timeout")
    refusal = refundable_credits([held_spid, credit("CR-AF2", 100)], as_of=rome(2026, 3, 1))
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "credit_held"


def test_held_credit_that_could_not_serve_changes_no_answer() -> None:
    """A held credit that could not pay a modification anyway: purpose_not_allowed."""
    held_spid = credit("CR-SP", 0, held=100, origin="spid_timeout")
    spid = credit("CR-SP2", 100, origin="spid_timeout")
    refusal = spendable([held_spid, spid], purpose="modification")
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "purpose_not_allowed"


def test_spid_credit_pays_purchases_and_renewals_but_not_modifications() -> None:
    """R5: SPID credit is for 'l'acquisto o il rinnovo di un altro servizio'."""
    spid = credit("CR-SP0001", 100, origin="spid_timeout")
    assert ids(spendable([spid], purpose="purchase")) == ["CR-SP0001"]
    assert ids(spendable([spid], purpose="renewal")) == ["CR-SP0001"]
    assert spendable([spid], purpose="modification") == Refusal(
        "purpose_not_allowed", "The credit on this account cannot pay a modification."
    )


@pytest.mark.parametrize(
    ("credits", "order", "purpose", "reason"),
    [
        ([], "MI0100", "purchase", "no_credit"),
        ([credit("CR-A", 0, held=100)], "MI0100", "purchase", "credit_held"),
        # Expired beats same order and purpose: the customer's first "why not?".
        (
            [credit("CR-MI0100", 100, expires_at=rome(2026, 1, 1), origin="spid_timeout")],
            "MI0100",
            "modification",
            "credit_expired",
        ),
        # Same order beats purpose.
        ([credit("CR-MI0100", 100, origin="spid_timeout")], "MI0100", "modification", "same_order"),
        (
            [credit("CR-SP1", 100, origin="spid_timeout")],
            "MI0100",
            "modification",
            "purpose_not_allowed",
        ),
    ],
)
def test_refusals_explain_the_first_filter_that_leaves_nothing(
    credits: list[CreditState], order: str, purpose: str, reason: str
) -> None:
    """Precedence: no credit (or all of it held), then expired, then same order, then
    purpose."""
    refusal = spendable(credits, order=order, purpose=purpose)
    assert isinstance(refusal, Refusal)
    assert refusal.reason == reason
    assert refusal.message


def test_a_forfeited_remainder_is_refused_as_expired_not_as_missing() -> None:
    """After the sweep forfeited it, the answer is still 'expired', as it was before."""
    swept = CreditState(
        credit_id="CR-A",
        customer_id="1234567@aruba.it",
        origin="spid_timeout",
        source_order_id="A",
        granted_at=GRANTED,
        expires_at=rome(2026, 5, 1),
        available=0,
        held=0,
        forfeited=100,
        refundable=True,
    )
    refusal = spendable([swept])
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "credit_expired"
    refund_refusal = refundable_credits([swept], as_of=ASKED)
    assert isinstance(refund_refusal, Refusal)
    assert refund_refusal.reason == "credit_expired"


def test_a_forfeited_credit_asked_for_before_its_expiry_has_nothing_left() -> None:
    """Dated before the expiry yet nothing remains (already forfeited): no credit."""
    swept = CreditState(
        credit_id="CR-A",
        customer_id="1234567@aruba.it",
        origin="activation_failed",
        source_order_id="A",
        granted_at=GRANTED,
        expires_at=rome(2026, 7, 1),
        available=0,
        held=0,
        forfeited=100,
    )
    refusal = spendable([swept])
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "no_credit"


# R9: refunds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credits", "reason"),
    [
        ([], "no_credit"),
        ([credit("CR-A", 100)], "not_refundable"),
        (
            [
                credit("CR-A", 100),
                credit("CR-SP", 100, origin="spid_timeout", expires_at=rome(2026, 5, 1)),
            ],
            "credit_expired",
        ),
    ],
)
def test_refund_refusals(credits: list[CreditState], reason: str) -> None:
    """No credit, then not refundable, then expired: the first that leaves nothing."""
    refusal = refundable_credits(credits, as_of=rome(2026, 6, 1))
    assert isinstance(refusal, Refusal)
    assert refusal.reason == reason


def test_only_valid_spid_credit_is_refundable() -> None:
    """Activation-failed credit stays; SPID credit still valid is refunded."""
    credits = [credit("CR-A", 100), credit("CR-SP", 100, origin="spid_timeout")]
    result = refundable_credits(credits, as_of=rome(2026, 6, 1))
    assert ids(result) == ["CR-SP"]


def test_refundability_is_what_the_credit_was_granted_with() -> None:
    """A credit granted refundable stays refundable, whatever the policy says today."""
    promised = replace(credit("CR-A", 100), refundable=True)
    assert ids(refundable_credits([promised], as_of=rome(2026, 6, 1))) == ["CR-A"]


def test_credit_granted_after_the_request_cannot_pay_it() -> None:
    """Business time: a request dated before a grant finds no credit, even processed later."""
    later = credit("CR-A", 100, granted_at=ASKED + timedelta(days=1))
    refusal = spendable([later])
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "no_credit"
    refund = replace(later, origin="spid_timeout", refundable=True)
    refund_refusal = refundable_credits([refund], as_of=ASKED)
    assert isinstance(refund_refusal, Refusal)
    assert refund_refusal.reason == "no_credit"


# R8: top-ups ---------------------------------------------------------------------------


def test_partial_topup_leaves_the_rest_due() -> None:
    """Paying 20 of 50 applies 20, leaves 30, has no excess."""
    assert settle_topup(5000, 2000) == (settle := settle_topup(5000, 2000))
    assert (settle.applied, settle.still_due, settle.excess) == (2000, 3000, 0)


def test_exact_topup_settles_everything() -> None:
    """Paying what is due leaves nothing due and no excess."""
    settle = settle_topup(5000, 5000)
    assert (settle.applied, settle.still_due, settle.excess) == (5000, 0, 0)


def test_overpaid_topup_reports_the_excess() -> None:
    """Paying 60 against 50 applies 50 and the 10 left over is the excess."""
    settle = settle_topup(5000, 6000)
    assert (settle.applied, settle.still_due, settle.excess) == (5000, 0, 1000)


@pytest.mark.parametrize(
    "reference",
    [
        "integrazione MI0002",
        "Integrazione MI0002",
        "INTEGRAZIONE MI0002",
        "integrazione mi0002",
        "integrazione   MI0002",
        "integrazione:MI0002",
        "integrazione: MI0002",
        "integrazione - MI0002",
        "integrazione_MI0002",
        "integrazione, MI0002.",
        "  integrazione MI0002  ",
        "integrazioneMI0002",
        "integrazione #MI0002",
        "INTEGRAZIONE\tMI0002",
    ],
)
def test_topup_reference_tolerates_case_spacing_and_punctuation(reference: str) -> None:
    """R8: what is between (and around) the two words does not matter; the order
    number comes back in its canonical, upper-case form."""
    assert read_topup_reference(reference) == TopupReference("MI0002")


@pytest.mark.parametrize(
    "reference",
    [
        "integrazione n. MI0002",
        "integrazione n° MI0002",
        "Integrazione nr.MI0002",
        "integrazione numero MI0002",
        "integrazione ordine MI0002",
        "Pagamento integrazione MI0002 Mario Rossi",
        "bonifico per integrazione mi0002 - grazie",
        "integrazione MI0002 del 12/03/2025",
        "integrazione MI0002 cliente 1234567@aruba.it",
        "INTEGRAZ. ORDINE MI0002",
        "Integr. MI0002",
        "integrazioni MI0002",
        "integrazione-ordine-MI0002",
        "integrazione dell'ordine MI0002",
    ],
)
def test_topup_reference_reads_plain_intent(reference: str) -> None:
    """Filler words between the two, and free text around them, still name one order."""
    assert read_topup_reference(reference) == TopupReference("MI0002")


@pytest.mark.parametrize(
    "reference",
    [
        "integrazione",
        "integrazione MI 0002",
        "integrazione MI0002 MI0003",
        "integrazione K4/K5",
        "integrazione ordine",
        "integrazione MI0002, integrazione MI0003",
        "Integrazione n.",
    ],
)
def test_topup_reference_naming_no_order_for_sure_is_unparsed(reference: str) -> None:
    """It speaks of a top-up but names no one order: a top-up with no order (for ops)."""
    assert read_topup_reference(reference) == TopupReference(None)


@pytest.mark.parametrize(
    "reference",
    [
        None,
        "",
        "   ",
        "bonifico MI0002",
        "MI0002",
        "saldo ordine MI0002",
        "reintegrazione X1",
        "pagamento integrale MI0002",
    ],
)
def test_other_references_are_not_topups(reference: str | None) -> None:
    """A reference that never says "integrazione" is an ordinary payment's."""
    assert read_topup_reference(reference) is None


def test_order_numbers_with_dashes_and_slashes_are_kept_whole() -> None:
    """An order number is everything after the word, less trailing punctuation."""
    assert read_topup_reference("integrazione MI-2026/0002.") == TopupReference("MI-2026/0002")


# R10: reminders -------------------------------------------------------------------------

DEADLINE = rome(2027, 1, 10, 9, 30)


def reminder(as_of: datetime, sent: tuple[int, ...] = ()) -> int | None:
    return reminder_to_send(DEADLINE, (30, 7), as_of=as_of, already_sent=sent, policy=POLICY)


def test_no_reminder_before_thirty_days() -> None:
    """The day before the 30-day mark, however late, nothing is due yet."""
    assert reminder(rome(2026, 12, 10, 23, 59)) is None


def test_thirty_day_reminder_falls_due_on_the_thirty_day_mark() -> None:
    """From the first minute of the day 30 calendar days before the deadline, whatever its
    hour: the daily sweep at 04:30 sends it that morning, not a day late."""
    assert reminder(rome(2026, 12, 11, 0, 0)) == 30
    assert reminder(rome(2026, 12, 11, 4, 30)) == 30
    assert days_left(DEADLINE, rome(2026, 12, 11, 4, 30), POLICY) == 30


def test_thirty_day_reminder_is_sent_once() -> None:
    """Once sent, the 30-day reminder is not due again before the 7-day mark."""
    assert reminder(rome(2026, 12, 20), sent=(30,)) is None


def test_seven_day_reminder_follows_the_thirty_day_one() -> None:
    """At the 7-day mark the 7-day reminder is due, then never again."""
    assert reminder(rome(2027, 1, 3, 9, 30), sent=(30,)) == 7
    assert reminder(rome(2027, 1, 5), sent=(30, 7)) is None


def test_a_catch_up_sends_only_the_closest_reminder() -> None:
    """After a missed month, only the 7-day reminder goes, not a stale 30-day one too."""
    assert reminder(rome(2027, 1, 5)) == 7
    assert reminder(rome(2027, 1, 6), sent=(7,)) is None


def test_no_reminder_at_or_after_the_deadline() -> None:
    """The deadline passed: reminding is pointless."""
    assert reminder(DEADLINE) is None
    assert reminder(DEADLINE + timedelta(days=1)) is None


def test_days_left_counts_calendar_days_in_rome() -> None:
    """From 23:30 UTC on 9 January (00:30 on the 10th in Rome) to a deadline on the 10th: 0."""
    assert days_left(DEADLINE, rome(2027, 1, 3, 9, 30), POLICY) == 7
    assert days_left(DEADLINE, datetime(2027, 1, 9, 23, 30, tzinfo=UTC), POLICY) == 0
