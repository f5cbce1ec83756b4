"""R12: the numbers of the rules are settings, with the SPEC's values as defaults."""

from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from ledger.policy import Policy


def test_defaults_are_the_help_page_rules() -> None:
    """12 months, 90 days, 30-day holds, reminders at 30 and 7 days, EUR in Rome."""
    policy = Policy()
    assert policy.credit_validity_months == 12
    assert policy.spid_activation_days == 90
    assert policy.hold_window_days == 30
    assert policy.credit_reminder_days == (30, 7)
    assert policy.spid_reminder_days == (30, 7)
    assert policy.refundable_origins == frozenset({"spid_timeout"})
    assert policy.spid_credit_anchor == "paid_at"
    assert policy.currency == "EUR"
    assert policy.zone == ZoneInfo("Europe/Rome")


def test_only_spid_credit_is_refundable_by_default() -> None:
    """R9: refundable origins default to SPID cancellations."""
    policy = Policy()
    assert policy.is_refundable("spid_timeout")
    assert not policy.is_refundable("activation_failed")


def test_purposes_each_origin_may_pay_by_default() -> None:
    """Failed-activation credit pays anything; SPID credit purchases and renewals only."""
    policy = Policy()
    for purpose in ("purchase", "renewal", "modification"):
        assert policy.may_pay("activation_failed", purpose)
    assert policy.may_pay("spid_timeout", "purchase")
    assert policy.may_pay("spid_timeout", "renewal")
    assert not policy.may_pay("spid_timeout", "modification")


def test_reminder_offsets_are_kept_in_descending_order_without_repeats() -> None:
    """However they are written, offsets read furthest first, each once."""
    assert Policy(credit_reminder_days=(7, 30, 7, 14)).credit_reminder_days == (30, 14, 7)


@pytest.mark.parametrize(
    "settings",
    [
        {"credit_validity_months": 0},
        {"spid_activation_days": 0},
        {"hold_window_days": -1},
        {"credit_reminder_days": (30, 0)},
        {"spid_reminder_days": (-7,)},
        {"currency": "euro"},
        {"business_timezone": "Europe/Atlantis"},
        {"spid_credit_anchor": "activated_at"},
        {"refundable_origins": frozenset({"gift"})},
        {"unknown_setting": 1},
    ],
)
def test_nonsense_settings_are_refused_at_start_up(settings: dict[str, object]) -> None:
    """A bad setting fails when the policy is built, not in the middle of a sweep."""
    with pytest.raises(ValidationError):
        Policy(**settings)


def test_a_policy_cannot_change_under_a_running_ledger() -> None:
    """Policies are frozen: a changed rule is a new policy."""
    policy = Policy()
    with pytest.raises(ValidationError):
        policy.hold_window_days = 45  # type: ignore[misc]


def test_every_setting_can_be_changed() -> None:
    """Each rule's number is data: a policy accepts other values for all of them."""
    policy = Policy(
        credit_validity_months=6,
        spid_activation_days=60,
        hold_window_days=45,
        credit_reminder_days=(14,),
        spid_reminder_days=(10, 3),
        refundable_origins=frozenset({"spid_timeout", "activation_failed"}),
        origin_purposes={
            "activation_failed": frozenset({"purchase"}),
            "spid_timeout": frozenset({"purchase", "modification"}),
        },
        spid_credit_anchor="cancelled_at",
        currency="CHF",
        business_timezone="Europe/Zurich",
    )
    assert policy.is_refundable("activation_failed")
    assert policy.may_pay("spid_timeout", "modification")
    assert not policy.may_pay("activation_failed", "renewal")
    assert policy.zone == ZoneInfo("Europe/Zurich")
