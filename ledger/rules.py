"""The credit rules (SPEC §1) as pure functions over plain data.

Nothing here touches a database or reads a clock: the caller passes ``as_of`` and
the current state, and gets back a decision. The store applies the decision.
"""

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from ledger.calendar import add_calendar_days, add_calendar_months, business_date
from ledger.policy import Origin, Policy, Purpose
from messages.limits import ORDER_ID_MAX_LENGTH

__all__ = [
    "CreditState",
    "Portion",
    "Refusal",
    "TopupReference",
    "TopupSettlement",
    "allocate",
    "credit_expiry",
    "days_left",
    "hold_due_by",
    "read_topup_reference",
    "refundable_credits",
    "reminder_to_send",
    "settle_topup",
    "spendable_credits",
    "spid_credit_expiry",
    "spid_deadline",
]


@dataclass(frozen=True, slots=True)
class CreditState:
    """One credit as the rules see it: where it came from, what is left, until when."""

    credit_id: str
    customer_id: str
    origin: Origin
    source_order_id: str
    granted_at: datetime
    expires_at: datetime
    available: int
    held: int
    forfeited: int = 0
    refundable: bool = False

    def exists_at(self, as_of: datetime) -> bool:
        """Granted by ``as_of``: a request dated before the grant cannot spend it, even
        when it is processed after the grant (business time, not arrival order)."""
        return self.granted_at <= as_of

    @property
    def forfeited_at(self) -> datetime:
        """R4: the instant the expiry forfeits the remainder (UTC): ``expires_at``, or
        the grant itself for a credit granted already expired (an activation that
        fails longer after its payment than the validity, R2), never before the credit
        existed (R11)."""
        return max(self.expires_at, self.granted_at)

    def with_remainder_forfeited(self) -> "CreditState":
        """This credit once R4 moved its available remainder to the forfeited bucket."""
        return replace(self, available=0, forfeited=self.forfeited + self.available)

    def is_usable(self, as_of: datetime) -> bool:
        """R2: usable while ``as_of < expires_at``."""
        return as_of < self.expires_at

    def is_left_or_lost_at(self, as_of: datetime) -> bool:
        """Something remains, or remained until it expired: what "expired" refusals are
        about. A remainder past expiry reads the same whether or not the sweep has
        forfeited it yet, so a request is judged alike before and after the sweep."""
        if not self.exists_at(as_of):
            return False
        return self.available > 0 or (self.forfeited > 0 and not self.is_usable(as_of))

    @property
    def spending_rank(self) -> tuple[datetime, datetime, str]:
        """R6: soonest-expiring first; ties oldest first; then a stable id order."""
        return (self.expires_at, self.granted_at, self.credit_id)


@dataclass(frozen=True, slots=True)
class Portion:
    """An amount taken from one credit."""

    credit_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request changes nothing: a reason code for machines, a sentence for people."""

    reason: str
    message: str


def credit_expiry(paid_at: datetime, policy: Policy) -> datetime:
    """R2: ``paid_at`` + validity months, same wall-clock time, day clamped."""
    return add_calendar_months(paid_at, policy.credit_validity_months, policy.zone)


def spid_deadline(paid_at: datetime, policy: Policy) -> datetime:
    """R5: the instant a SPID order not activated by then is cancelled."""
    return add_calendar_days(paid_at, policy.spid_activation_days, policy.zone)


def spid_credit_expiry(paid_at: datetime, cancelled_at: datetime, policy: Policy) -> datetime:
    """R5: SPID credit validity, anchored on payment by default (policy setting)."""
    anchor = paid_at if policy.spid_credit_anchor == "paid_at" else cancelled_at
    return credit_expiry(anchor, policy)


def hold_due_by(requested_at: datetime, policy: Policy) -> datetime:
    """R6: when a hold lapses if the difference has not been paid."""
    return add_calendar_days(requested_at, policy.hold_window_days, policy.zone)


def spendable_credits(
    credits: Iterable[CreditState],
    *,
    new_order_id: str,
    purpose: Purpose,
    as_of: datetime,
    policy: Policy,
) -> list[CreditState] | Refusal:
    """R2, R3, R6: the customer's credits that may pay ``new_order_id``, in spending order.

    Each filter that empties the list explains the refusal, checked in the order a
    customer would ask "why not?": nothing left, expired, same order, wrong purpose.
    But if credit that could pay is held for another order awaiting its top-up, that
    is the answer (``credit_held``): the customer has it, just not free now.
    """

    def could_pay(credit: CreditState) -> bool:
        return credit.source_order_id != new_order_id and policy.may_pay(credit.origin, purpose)

    existing = [credit for credit in credits if credit.exists_at(as_of)]
    filters: list[tuple[Callable[[CreditState], bool], Refusal]] = [
        (lambda credit: credit.is_left_or_lost_at(as_of), _NO_CREDIT),
        (lambda credit: credit.is_usable(as_of), _EXPIRED),
        (
            lambda credit: credit.source_order_id != new_order_id,
            Refusal(
                "same_order",
                f"Credit cannot pay order {new_order_id}, the very order that produced it.",
            ),
        ),
        (
            lambda credit: policy.may_pay(credit.origin, purpose),
            Refusal("purpose_not_allowed", f"The credit on this account cannot pay a {purpose}."),
        ),
    ]
    chosen = _first_refusal(existing, filters, held_could_serve=could_pay)
    if isinstance(chosen, Refusal):
        return chosen
    return sorted(chosen, key=lambda credit: credit.spending_rank)


_NO_CREDIT: Final = Refusal("no_credit", "There is no credit left on this account.")
_EXPIRED: Final = Refusal("credit_expired", "The credit on this account has expired.")
_HELD: Final = Refusal(
    "credit_held",
    "The credit on this account is held for an order awaiting its top-up payment.",
)


def _first_refusal(
    credits: list[CreditState],
    filters: Sequence[tuple[Callable[[CreditState], bool], Refusal]],
    *,
    held_could_serve: Callable[[CreditState], bool],
) -> list[CreditState] | Refusal:
    """``credits`` through ``filters`` in order; the refusal of the first that leaves
    nothing, unless credit is held for an order awaiting its top-up: when nothing at
    all is left but held credit, or when a held credit could have served. A held credit
    does not expire while held, so only ``held_could_serve`` judges it."""
    remaining = credits
    for stage, (keep, refusal) in enumerate(filters):
        remaining = [credit for credit in remaining if keep(credit)]
        if not remaining:
            held = [credit for credit in credits if credit.held]
            if held and (stage == 0 or any(held_could_serve(credit) for credit in held)):
                return _HELD
            return refusal
    return remaining


def allocate(credits: Sequence[CreditState], amount: int) -> list[Portion]:
    """R6: take up to ``amount`` from ``credits`` in the order given (spending order)."""
    portions: list[Portion] = []
    still_needed = amount
    for credit in credits:
        if still_needed == 0:
            break
        taken = min(credit.available, still_needed)
        portions.append(Portion(credit.credit_id, taken))
        still_needed -= taken
    return portions


def refundable_credits(
    credits: Iterable[CreditState], *, as_of: datetime
) -> list[CreditState] | Refusal:
    """R9: the credits whose remainder may be refunded, or why none may (held, when
    refundable credit is held for an order awaiting its top-up)."""
    existing = [credit for credit in credits if credit.exists_at(as_of)]
    filters: list[tuple[Callable[[CreditState], bool], Refusal]] = [
        (lambda credit: credit.is_left_or_lost_at(as_of), _NO_CREDIT),
        # The flag stored at grant time, as `credit.granted` told the customer: a later
        # change of `refundable_origins` does not take back what was promised.
        (
            lambda credit: credit.refundable,
            Refusal(
                "not_refundable",
                "This credit can be used for other services but cannot be refunded.",
            ),
        ),
        (
            lambda credit: credit.is_usable(as_of),
            Refusal("credit_expired", "The refundable credit has expired."),
        ),
    ]
    chosen = _first_refusal(existing, filters, held_could_serve=lambda credit: credit.refundable)
    if isinstance(chosen, Refusal):
        return chosen
    return sorted(chosen, key=lambda credit: credit.spending_rank)


@dataclass(frozen=True, slots=True)
class TopupSettlement:
    """How a top-up payment splits against what is due (R8)."""

    applied: int
    still_due: int
    excess: int


def settle_topup(amount_due: int, paid: int) -> TopupSettlement:
    """R8: partial payment leaves the rest due; overpayment is the excess."""
    applied = min(amount_due, paid)
    return TopupSettlement(applied=applied, still_due=amount_due - applied, excess=paid - applied)


@dataclass(frozen=True, slots=True)
class TopupReference:
    """A payment reference that speaks of a top-up (R8), and the order it names.

    ``order_id`` is the canonical (upper-case) order number; None when the reference
    says "integrazione" but does not name one order unambiguously: such a payment is
    kept for ops (``reference_unparsed``), never booked as the price of an order.
    """

    order_id: str | None


# "integrazione" and the ways bank and postal slips shorten or inflect it ("integraz.",
# "Integr.", "integrazioni"), as a word of its own (the whole word may run into the
# order number: "integrazioneK7"); not "integrale" (paid in full).
_TOPUP_WORD = re.compile(
    r"(?<![^\W_])(?:integrazion[ei]|integr(?:az|ativ[oa])?(?![^\W_])\.?)", re.IGNORECASE
)
# Words people put between "integrazione" and the order number.
_FILLER = frozenset(
    {"n", "nr", "num", "numero", "no", "n°", "nº", "ordine", "ord", "order", "per", "del"}
    | {"dell", "della", "l", "rif", "riferimento"}
)
# A token: letters and digits, possibly joined by "-" or "/" (MI-2026/0002).
_TOKEN = re.compile(r"[^\W_]+(?:[-/][^\W_]+)*")


def read_topup_reference(reference: str | None) -> TopupReference | None:
    """R8: what a payment reference says about a top-up; None if it is not one.

    A reference is a top-up's when it says "integrazione" (or a usual shortening:
    ``integraz.``, ``Integr.``, ``integrazioni``), once. The order number is the first
    token after it, past punctuation and filler words (``integrazione n. K4``,
    ``INTEGRAZ. ORDINE K4``, ``integrazione-ordine-K4``), in its canonical upper case.
    Free text around the two is tolerated (``Pagamento integrazione K5 Mario Rossi``,
    ``integrazione MI0002 del 12/03/2025``) when the order number holds a digit and
    nothing after it looks like another order number of the same kind (``K4 K5``,
    ``K4/K5``). Anything else that says "integrazione" names no order for sure
    (``TopupReference(None)``).
    """
    if not reference:
        return None
    mentions = list(_TOPUP_WORD.finditer(reference))
    if not mentions:
        return None
    if len(mentions) > 1:
        return TopupReference(None)
    tokens = _without_fillers(_TOKEN.findall(reference[mentions[0].end() :]))
    if not tokens:
        return TopupReference(None)
    order, rest = tokens[0], tokens[1:]
    if not rest and "/" not in order:
        return _naming(order.upper())
    if not _has_digit(order) or _looks_like_two(order, rest):
        return TopupReference(None)
    return _naming(order.upper())


def _naming(order_id: str) -> TopupReference:
    # An order number longer than any order's names no order the books can hold: the
    # payment is kept for ops like any other whose reference names no order for sure.
    if len(order_id) > ORDER_ID_MAX_LENGTH:
        return TopupReference(None)
    return TopupReference(order_id)


def _without_fillers(tokens: list[str]) -> list[str]:
    """``tokens`` without the filler words ahead of the order number, also where they
    are joined to it (``ordine-K4``)."""
    while tokens:
        parts = tokens[0].split("-")
        while len(parts) > 1 and parts[0].lower() in _FILLER:
            parts.pop(0)
        if parts[0].lower() in _FILLER and len(parts) == 1:
            tokens = tokens[1:]
            continue
        return ["-".join(parts), *tokens[1:]]
    return tokens


def _has_digit(token: str) -> bool:
    return any(character.isdigit() for character in token)


def _shape(token: str) -> str:
    """The letters an order number starts with: ``K`` for K4, ``MI`` for MI0002."""
    letters = re.match(r"[^\W\d_]*", token)
    return letters.group(0).upper() if letters else ""


def _looks_like_two(order: str, rest: list[str]) -> bool:
    """Whether another order number of the same kind follows, after or within it."""
    kind = _shape(order)
    within = order.split("/")
    if len(within) > 1 and all(_has_digit(part) and _shape(part) == kind for part in within):
        return True
    return any(_has_digit(token) and _shape(token) == kind for token in rest)


def reminder_to_send(
    deadline: datetime,
    offsets: Sequence[int],
    *,
    as_of: datetime,
    already_sent: Iterable[int],
    policy: Policy,
) -> int | None:
    """R10: the reminder offset (days before ``deadline``) to send now, if any.

    A reminder falls due on a business day, not at an instant: "30 days before" a
    credit expiring on 15 March at 10:00 is 13 February, so the daily sweep of that
    morning sends it, with ``days_left`` 30, whatever the hour of either. Only the
    closest reminder that has fallen due is sent: after a missed week the customer
    gets the 7-day reminder, not a stale 30-day one as well. Each offset at most once;
    nothing once the deadline has passed.
    """
    if as_of >= deadline:
        return None
    today = business_date(as_of, policy.zone)
    deadline_day = business_date(deadline, policy.zone)
    fallen_due = [days for days in offsets if deadline_day - timedelta(days=days) <= today]
    if not fallen_due:
        return None
    closest = min(fallen_due)
    sent = set(already_sent)
    if any(days <= closest for days in sent):
        return None
    return closest


def days_left(deadline: datetime, as_of: datetime, policy: Policy) -> int:
    """Whole calendar days from ``as_of`` to ``deadline`` in the business time zone."""
    return (business_date(deadline, policy.zone) - business_date(as_of, policy.zone)).days
