"""Amounts on the wire: decimal strings in, two-decimal strings out, never numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from ledger.money import cents_to_decimal, decimal_to_cents
from messages import MAX_AMOUNT, Amount, NonNegativeAmount, PositiveTotal, Total, format_amount

AMOUNT: TypeAdapter[Decimal] = TypeAdapter(Amount)
NON_NEGATIVE: TypeAdapter[Decimal] = TypeAdapter(NonNegativeAmount)
TOTAL: TypeAdapter[Decimal] = TypeAdapter(Total)
POSITIVE_TOTAL: TypeAdapter[Decimal] = TypeAdapter(PositiveTotal)
EVERY_KIND = {
    "Amount": AMOUNT,
    "NonNegativeAmount": NON_NEGATIVE,
    "Total": TOTAL,
    "PositiveTotal": POSITIVE_TOTAL,
}


def refusal(adapter: TypeAdapter[Decimal], json_text: str) -> str:
    """The single error message `adapter` gives for `json_text`, checking its type."""
    with pytest.raises(ValidationError) as caught:
        adapter.validate_json(json_text)
    (error,) = caught.value.errors()
    assert error["type"] == "bad_amount"
    return error["msg"]


def test_a_decimal_string_is_read_exactly_and_quantized_to_cents() -> None:
    """ "49.9" and "49.90" are the same amount, held as a Decimal with two places."""
    amount = AMOUNT.validate_json('"49.9"')

    assert amount == Decimal("49.90")
    assert amount.as_tuple().exponent == -2


def test_an_amount_is_written_as_a_string_with_exactly_two_decimals() -> None:
    """JSON output is always a two-decimal string, whatever the input's precision."""
    assert AMOUNT.dump_json(AMOUNT.validate_json('"50"')) == b'"50.00"'
    assert AMOUNT.dump_python(Decimal("49.9"), mode="json") == "49.90"


def test_python_dumps_keep_the_decimal() -> None:
    """Only JSON mode turns amounts into strings: Python callers keep a Decimal."""
    assert AMOUNT.dump_python(Decimal("49.90")) == Decimal("49.90")


@pytest.mark.parametrize("number", ["49.9", "50", "0.1"])
def test_a_json_number_is_refused_as_not_a_decimal_string(number: str) -> None:
    """A JSON number, integral or not, is refused: amounts are decimal strings."""
    message = refusal(AMOUNT, number)

    assert "amounts are decimal strings" in message
    assert number in message


def test_more_than_two_decimals_are_refused() -> None:
    """A third decimal is refused, even a zero: the wire carries cents, no finer."""
    assert refusal(AMOUNT, '"49.999"') == (
        "amounts are decimal strings with at most 2 decimals, got 49.999"
    )
    refusal(AMOUNT, '"49.900"')


@pytest.mark.parametrize("text", ["0", "0.00", "-5.00", "-0.01"])
def test_a_positive_amount_refuses_zero_and_negatives(text: str) -> None:
    """`Amount` is strictly positive: a payment or an order of zero means nothing."""
    assert "must be greater than 0" in refusal(AMOUNT, f'"{text}"')


def test_a_non_negative_amount_accepts_zero() -> None:
    """`NonNegativeAmount` is for remainders, which may be zero."""
    assert NON_NEGATIVE.validate_json('"0"') == Decimal("0.00")


def test_a_non_negative_amount_refuses_negatives() -> None:
    """No balance reported on the wire is ever negative."""
    assert "must not be negative" in refusal(NON_NEGATIVE, '"-0.01"')


def test_negative_zero_is_written_as_zero() -> None:
    """ "-0" is zero, and is never written back with a sign."""
    assert NON_NEGATIVE.dump_python(NON_NEGATIVE.validate_json('"-0"'), mode="json") == "0.00"


@pytest.mark.parametrize(
    "text", ["1e3", "49,90", " 49.90", "+1.00", "NaN", "Infinity", "49.", ".5", "", "١٢"]
)
def test_strings_that_are_not_plain_decimals_are_refused(text: str) -> None:
    """Only digits with an optional point and decimals: no exponents, signs, spaces, NaN."""
    assert "amounts are decimal strings" in refusal(AMOUNT, f'"{text}"')


def test_amounts_above_the_maximum_are_refused() -> None:
    """Amounts whose cents would not fit a 64-bit column are refused at the wire."""
    assert "at most" in refusal(AMOUNT, f'"{MAX_AMOUNT + 1}"')


def test_python_callers_may_pass_a_decimal() -> None:
    """The ledger builds notifications from Decimals, which are exact."""
    assert AMOUNT.validate_python(Decimal("12.5")) == Decimal("12.50")


def test_a_python_decimal_with_fractions_of_a_cent_is_refused() -> None:
    """A Decimal is held to the same two-decimal rule as a string."""
    with pytest.raises(ValidationError, match="at most 2 decimals"):
        AMOUNT.validate_python(Decimal("0.001"))


def test_format_amount_writes_two_decimals() -> None:
    """`format_amount` is the wire form, usable outside a model (logs, CLI)."""
    assert format_amount(Decimal("7")) == "7.00"


@given(st.decimals(min_value=Decimal("0.01"), max_value=MAX_AMOUNT, places=2, allow_nan=False))
def test_any_amount_in_cents_round_trips_through_its_wire_string(amount: Decimal) -> None:
    """Any positive amount with at most two decimals survives JSON out and back unchanged."""
    wire = AMOUNT.dump_json(amount)

    assert wire == f'"{amount:.2f}"'.encode()
    assert AMOUNT.validate_json(wire) == amount


def test_a_total_has_no_upper_bound() -> None:
    """A sum over several credits may exceed the largest amount one event carries."""
    assert TOTAL.validate_json(f'"{2 * MAX_AMOUNT}"') == 2 * MAX_AMOUNT
    assert POSITIVE_TOTAL.validate_python(2 * MAX_AMOUNT) == 2 * MAX_AMOUNT
    assert "at most" in refusal(NON_NEGATIVE, f'"{2 * MAX_AMOUNT}"')


def test_a_positive_total_refuses_zero_and_a_total_refuses_negatives() -> None:
    """The signs are the amounts' own: a refund of nothing is not a refund."""
    assert "must be greater than 0" in refusal(POSITIVE_TOTAL, '"0.00"')
    assert "must not be negative" in refusal(TOTAL, '"-0.01"')


def test_totals_with_more_digits_than_the_default_decimal_context_stay_exact() -> None:
    """Python rounds decimals to 28 digits by default; a total in cents never is."""
    cents = 10**40 + 7

    amount = cents_to_decimal(cents)

    assert TOTAL.dump_json(TOTAL.validate_python(amount)) == f'"{cents // 100}.07"'.encode()
    assert decimal_to_cents(amount) == cents


# What a wire string may look like near every rule: leading zeros, signs, a third
# decimal, a missing part, as many digits as the bound and one more.
_WIRE_STRINGS = st.builds(
    "{}{}{}{}".format,
    st.sampled_from(["", "-", "+", "0", "00", "-0"]),
    st.text("0123456789", max_size=15),
    st.sampled_from(["", ".", ".0", ".00", ".000", ".5", ".05", ".50", ".01", ".1x"]),
    st.sampled_from(["", " ", "e3", "\n"]),
)


@pytest.mark.parametrize("kind", list(EVERY_KIND))
@given(text=_WIRE_STRINGS)
def test_each_amount_schema_accepts_exactly_what_its_validator_accepts(
    kind: str, text: str
) -> None:
    """The JSON Schema of each kind (published in docs/contract) and its validator agree
    on every string: one cannot drift from the other."""
    adapter = EVERY_KIND[kind]
    try:
        adapter.validate_python(text)
    except ValidationError:
        accepted = False
    else:
        accepted = True

    assert Draft202012Validator(adapter.json_schema()).is_valid(text) == accepted, text


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("Amount", f"{MAX_AMOUNT}"),
        ("Amount", "0000999999999999.99"),
        ("NonNegativeAmount", "-0.00"),
        ("Total", f"{10 * MAX_AMOUNT}"),
        ("PositiveTotal", "0.01"),
    ],
)
def test_each_amount_schema_accepts_the_edges(kind: str, text: str) -> None:
    """The edges themselves, which random strings may miss: the bound, leading zeros, a
    negative zero, a total past the bound, the smallest positive amount."""
    adapter = EVERY_KIND[kind]

    adapter.validate_python(text)
    Draft202012Validator(adapter.json_schema()).validate(text)
