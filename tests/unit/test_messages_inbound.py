"""Inbound events (SPEC §2): what parses, and how what does not is reported to ops."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, get_args

import pytest

from messages import (
    INBOUND_TYPES,
    ActivationFailedEvent,
    CreditRequestedEvent,
    InboundEvent,
    InvalidEvent,
    MessageError,
    PaymentReceived,
    PaymentReceivedEvent,
    limits,
    parse_inbound,
)

SPEC_EXAMPLE = """
{"specversion": "1.0", "id": "evt-0001", "source": "billing", "type": "payment.received",
 "time": "2026-01-10T09:30:00+01:00",
 "data": {"order_id": "MI0001", "customer_id": "1234567@aruba.it", "service": "spid",
          "amount": "49.90", "currency": "EUR", "paid_at": "2026-01-10T09:30:00+01:00",
          "method": "card", "reference": null}}
"""

ROME_WINTER = timezone(timedelta(hours=1))


def payment(**data: Any) -> dict[str, Any]:
    """The SPEC example as a dict, with `data` fields overridden."""
    body: dict[str, Any] = json.loads(SPEC_EXAMPLE)
    body["data"].update(data)
    return body


def transfer_request(**data: Any) -> dict[str, Any]:
    """A valid `credit.requested` transfer, with `data` fields overridden."""
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-0100",
        "source": "customer-area",
        "type": "credit.requested",
        "time": "2026-02-01T10:00:00+01:00",
        "data": {
            "request_id": "REQ-1",
            "customer_id": "1234567@aruba.it",
            "action": "transfer",
            "channel": "online_form",
            "requested_at": "2026-02-01T10:00:00+01:00",
            "new_order": {
                "order_id": "MI0002",
                "amount": "30.00",
                "currency": "EUR",
                "purpose": "purchase",
                "service": "pec",
            },
        },
    }
    body["data"].update(data)
    return body


def refusal(body: Any, **options: Any) -> InvalidEvent:
    """The `InvalidEvent` that parsing `body` raises."""
    with pytest.raises(InvalidEvent) as caught:
        parse_inbound(body, **options)
    return caught.value


def test_the_spec_example_parses_into_a_typed_payment() -> None:
    """The example of SPEC §2 is a `payment.received` with exact, aware values."""
    event = parse_inbound(SPEC_EXAMPLE)

    assert isinstance(event, PaymentReceivedEvent)
    assert event.id == "evt-0001"
    assert event.time == datetime(2026, 1, 10, 9, 30, tzinfo=ROME_WINTER)
    assert event.data == PaymentReceived(
        order_id="MI0001",
        customer_id="1234567@aruba.it",
        service="spid",
        amount=Decimal("49.90"),
        currency="EUR",
        paid_at=datetime(2026, 1, 10, 9, 30, tzinfo=ROME_WINTER),
        method="card",
    )


@pytest.mark.parametrize(
    "body",
    [SPEC_EXAMPLE.encode(), SPEC_EXAMPLE, json.loads(SPEC_EXAMPLE)],
    ids=["bytes", "str", "mapping"],
)
def test_bytes_text_and_decoded_mappings_parse_alike(body: bytes | str | dict[str, Any]) -> None:
    """RabbitMQ bodies, CLI text and Dramatiq's decoded dicts give the same event."""
    assert parse_inbound(body) == parse_inbound(SPEC_EXAMPLE)


def test_activation_failed_parses_with_an_optional_reason() -> None:
    """`activation.failed` needs only the order and when it failed."""
    event = parse_inbound(
        {
            "specversion": "1.0",
            "id": "evt-0002",
            "source": "provisioning",
            "type": "activation.failed",
            "time": "2026-01-11T08:00:00Z",
            "data": {"order_id": "MI0001", "failed_at": "2026-01-11T08:00:00Z"},
        }
    )

    assert isinstance(event, ActivationFailedEvent)
    assert event.data.reason is None


def test_a_transfer_with_its_new_order_parses() -> None:
    """A transfer names the order to pay and what it costs."""
    event = parse_inbound(transfer_request())

    assert isinstance(event, CreditRequestedEvent)
    assert event.data.new_order is not None
    assert event.data.new_order.amount == Decimal("30.00")
    assert event.data.documents == []


def test_a_documents_request_without_documents_is_left_to_the_ledger() -> None:
    """No attached document is a business refusal (`missing_documents`), not bad schema."""
    event = parse_inbound(transfer_request(channel="documents"))

    assert isinstance(event, CreditRequestedEvent)
    assert event.data.channel == "documents"


def test_a_request_may_be_restricted_to_named_credits() -> None:
    """Extension: `credit_ids` restricts a request to those credits."""
    event = parse_inbound(transfer_request(credit_ids=["CR-1", "CR-2"]))

    assert isinstance(event, CreditRequestedEvent)
    assert event.data.credit_ids == ["CR-1", "CR-2"]


def test_customer_mistakes_are_valid_on_the_wire() -> None:
    """An empty `credit_ids` or a blank document name is the customer's mistake, for the
    ledger to refuse with a reason the customer is told (`request.rejected`), not a
    broken event to dead-letter."""
    event = parse_inbound(transfer_request(credit_ids=[], documents=[" "]))

    assert isinstance(event, CreditRequestedEvent)
    assert (event.data.credit_ids, event.data.documents) == ([], [" "])


@pytest.mark.parametrize("field", ["order_id", "credit_ids"])
def test_order_numbers_and_credit_ids_arrive_in_upper_case(field: str) -> None:
    """Order numbers match without regard to case: one canonical form from the boundary."""
    if field == "order_id":
        event = parse_inbound(payment(order_id="mi0001"))
        assert isinstance(event, PaymentReceivedEvent)
        assert event.data.order_id == "MI0001"
    else:
        request = parse_inbound(transfer_request(credit_ids=["cr-mi0001"]))
        assert isinstance(request, CreditRequestedEvent)
        assert request.data.credit_ids == ["CR-MI0001"]


def test_a_float_amount_is_refused_as_bad_amount() -> None:
    """A JSON number as amount is `bad_amount`, and the detail names `data.amount`."""
    error = refusal(payment(amount=49.9))

    assert error.reason == "bad_amount"
    assert error.detail.startswith("data.amount: amounts are decimal strings")


def test_an_amount_with_three_decimals_is_refused_as_bad_amount() -> None:
    """The detail quotes the field, the rule and the offending value."""
    error = refusal(payment(amount="49.999"))

    assert error.reason == "bad_amount"
    assert error.detail == (
        "data.amount: amounts are decimal strings with at most 2 decimals, got 49.999"
    )


@pytest.mark.parametrize("amount", ["0.00", "-5.00"])
def test_a_zero_or_negative_amount_is_refused_as_bad_amount(amount: str) -> None:
    """Amounts are positive."""
    error = refusal(payment(amount=amount))

    assert error.reason == "bad_amount"
    assert error.detail.startswith("data.amount: amounts must be greater than 0")


def test_a_bad_new_order_amount_names_its_nested_path() -> None:
    """Nested fields are named by their full path."""
    request = transfer_request()
    request["data"]["new_order"]["amount"] = 30

    error = refusal(request)

    assert error.reason == "bad_amount"
    assert error.detail.startswith("data.new_order.amount:")


def test_another_currency_is_refused_as_wrong_currency() -> None:
    """Only the configured currency is accepted (EUR by default)."""
    error = refusal(payment(currency="USD"))

    assert error.reason == "wrong_currency"
    assert error.detail == "data.currency: only EUR is accepted, got USD"


def test_the_configured_currency_is_the_accepted_one() -> None:
    """The policy's currency, passed by the caller, replaces EUR."""
    event = parse_inbound(payment(currency="CHF"), currency="CHF")

    assert isinstance(event, PaymentReceivedEvent)
    assert event.data.currency == "CHF"
    assert refusal(payment(), currency="CHF").reason == "wrong_currency"


def test_model_validation_takes_the_currency_from_context() -> None:
    """Models validated directly read the expected currency from validation context."""
    data = payment(currency="CHF")["data"]

    assert PaymentReceived.model_validate_json(json.dumps(data), context={"currency": "CHF"})
    with pytest.raises(ValueError, match="only EUR is accepted"):
        PaymentReceived.model_validate_json(json.dumps(data))


def test_a_naive_envelope_time_is_refused_as_naive_timestamp() -> None:
    """`time` without an offset is ambiguous, so refused."""
    body = payment()
    body["time"] = "2026-01-10T09:30:00"

    error = refusal(body)

    assert error.reason == "naive_timestamp"
    assert error.detail.startswith("time: timestamps must carry an offset")


def test_a_naive_business_timestamp_is_refused_as_naive_timestamp() -> None:
    """Every timestamp in `data` must carry an offset too."""
    error = refusal(payment(paid_at="2026-01-10T09:30:00"))

    assert error.reason == "naive_timestamp"
    assert error.detail.startswith("data.paid_at:")


def test_a_unix_timestamp_is_refused() -> None:
    """Timestamps are ISO 8601 strings; a number is a schema error."""
    error = refusal(payment(paid_at=1768033800))

    assert error.reason == "bad_schema"
    assert error.detail.startswith("data.paid_at: timestamps are ISO 8601 strings")


def test_an_unknown_data_field_is_refused_as_bad_schema() -> None:
    """A misspelt or unexpected field is reported, not silently dropped."""
    error = refusal(payment(refrence="integrazione MI0002"))

    assert error.reason == "bad_schema"
    assert error.detail == "data.refrence: unknown field"


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/json; charset=utf-8", True),
        ("application/json ;charset=utf-8\n", True),
        ("application/json\r\n", True),
        ("text/plain", False),
        ("application/jsonx", False),
        ("application/json\u3000", False),
        ("application/json\x1c", False),
    ],
)
def test_datacontenttype_is_json_with_or_without_parameters(
    content_type: str, accepted: bool
) -> None:
    """`data` is always a JSON object; the media type may carry parameters, as AMQP
    senders in binary mode often write it."""
    body = payment()
    body["datacontenttype"] = content_type

    if accepted:
        assert parse_inbound(body).datacontenttype == content_type
    else:
        assert refusal(body).detail.startswith("datacontenttype:")


@pytest.mark.parametrize(
    ("content_type", "kept"),
    [
        ("Application/JSON", "application/json"),
        ("APPLICATION/JSON; charset=UTF-8", "application/json; charset=UTF-8"),
    ],
)
def test_datacontenttype_is_matched_without_regard_to_case(content_type: str, kept: str) -> None:
    """Media types are case-insensitive (RFC 9110 §8.3.1): accepted, and kept with the
    media type in lower case and the parameters as sent."""
    body = payment()
    body["datacontenttype"] = content_type

    assert parse_inbound(body).datacontenttype == kept


def test_a_request_naming_more_credits_than_allowed_is_refused() -> None:
    """Each credit named is one query parameter: the list is bounded up front, where
    its refusal says what the bound is, rather than by the database mid-transaction."""
    most = ["CR-1"] * limits.CREDIT_IDS_MAX_COUNT

    assert isinstance(parse_inbound(transfer_request(credit_ids=most)), CreditRequestedEvent)
    error = refusal(transfer_request(credit_ids=[*most, "CR-2"]))
    assert error.reason == "bad_schema"
    assert error.detail.startswith(
        f"data.credit_ids: List should have at most {limits.CREDIT_IDS_MAX_COUNT} items"
    )


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_extension_attributes_are_accepted_and_kept() -> None:
    """Extension attributes of the allowed types are kept with the event; a null one
    is unset, as the CloudEvents JSON format says."""
    body = payment()
    body |= {"traceparent": TRACEPARENT, "sequence": 42, "replayed": False, "region": None}

    event = parse_inbound(body)

    assert event.extensions == {"traceparent": TRACEPARENT, "sequence": 42, "replayed": False}
    assert event.model_dump(mode="json")["traceparent"] == TRACEPARENT


@pytest.mark.parametrize(
    ("attribute", "core"),
    [
        ("subjet", "subject"),
        ("specversoin", "specversion"),
        ("datacontentype", "datacontenttype"),
        ("tipe", "type"),
        ("Subject", "subject"),
        ("dataschemas", "dataschema"),
    ],
)
def test_a_misspelt_core_attribute_is_refused_with_what_it_resembles(
    attribute: str, core: str
) -> None:
    """A name within the edit distance of a core attribute is refused, naming the
    attribute it resembles, rather than kept as an extension."""
    body = payment()
    body[attribute] = "x"

    error = refusal(body)

    assert error.reason == "bad_schema"
    assert error.detail.startswith(f"{attribute}: looks like a misspelt {core}")


def test_a_missing_core_attribute_points_at_its_misspelling() -> None:
    """A required attribute sent under a misspelt name is reported as missing, with
    the name that looks like it."""
    body = payment()
    body["tiem"] = body.pop("time")

    assert (
        refusal(body).detail == "time: required field is missing (tiem looks like a misspelt time)"
    )


@pytest.mark.parametrize("name", ["traceParent", "trace-parent", "data_base64"])
def test_an_extension_name_outside_lowercase_letters_and_digits_is_refused(name: str) -> None:
    """The specification's naming rule: lowercase letters and digits only."""
    body = payment()
    body[name] = "x"

    assert refusal(body).detail == (
        f"{name}: extension attribute names are lowercase letters and digits only"
    )


def test_an_integral_number_extension_is_the_integer() -> None:
    """JSON has one kind of number and JSON Schema calls ``2.0`` an integer: so does
    residuo, which keeps it as the integer 2 (the published schema accepts it too)."""
    body = payment()
    body |= {"sequence": 2.0, "negative": -0.0}

    extensions = parse_inbound(json.dumps(body)).extensions

    assert extensions == {"sequence": 2, "negative": 0}
    assert {type(value) for value in extensions.values()} == {int}


@pytest.mark.parametrize("value", [1.5, 2**31, float(2**31), 1e300, {"a": 1}, ["a"]])
def test_an_extension_value_of_another_type_is_refused(value: object) -> None:
    """Values are strings, 32-bit integers or booleans, the types the JSON format has
    for CloudEvents attributes."""
    body = payment()
    body["weight"] = value

    assert refusal(body).detail == (
        "weight: extension attribute values are strings, 32-bit integers or booleans"
    )


def test_a_long_extension_name_far_from_every_core_attribute_is_accepted() -> None:
    """The 20-character limit is a recommendation of the specification, not a rule."""
    body = payment()
    body["averyveryverylongextensionname"] = "x"

    assert parse_inbound(body).extensions == {"averyveryverylongextensionname": "x"}


def test_a_missing_field_is_named() -> None:
    """A required field that is absent is named in the detail."""
    body = payment()
    del body["data"]["order_id"]

    assert refusal(body).detail == "data.order_id: required field is missing"


def test_a_specific_reason_wins_over_a_generic_one() -> None:
    """With several errors, the amount's reason is kept and all errors are listed."""
    error = refusal(payment(colour="red", amount=49.9))

    assert error.reason == "bad_amount"
    assert error.detail.startswith("data.amount:")
    assert "data.colour: unknown field" in error.detail


def test_an_unknown_type_is_refused_as_unknown_type() -> None:
    """A type residuo does not consume is `unknown_type`, with the type kept for ops."""
    body = payment()
    body["type"] = "payment.reversed"

    error = refusal(body)

    assert error.reason == "unknown_type"
    assert error.event_type == "payment.reversed"
    assert error.detail.startswith("type:")


def test_a_missing_type_is_bad_schema() -> None:
    """Without a `type` the event cannot be routed at all."""
    body = payment()
    del body["type"]

    error = refusal(body)

    assert (error.reason, error.detail) == ("bad_schema", "type: required field is missing")
    assert error.event_id == "evt-0001"


def test_a_blank_id_is_refused() -> None:
    """`id` is the idempotency key: it cannot be empty."""
    body = payment()
    body["id"] = " "

    error = refusal(body)

    assert error.detail == "id: must not be blank"
    assert error.event_id is None


@pytest.mark.parametrize(
    "body",
    [b'{"id": "evt-1", ', b"\xff\xfe{}", '{"amount": NaN}', "{'single': 'quotes'}"],
    ids=["truncated", "not-utf8", "nan", "python-repr"],
)
def test_a_body_that_is_not_json_is_refused_as_bad_json(body: bytes | str) -> None:
    """Bytes that are not UTF-8 JSON (NaN included) are `bad_json`."""
    assert refusal(body).reason == "bad_json"


def test_a_json_value_that_is_not_an_object_is_refused() -> None:
    """An event is a JSON object; an array or a string is `not_an_object`."""
    assert refusal("[1, 2]").reason == "not_an_object"


def test_a_transfer_without_new_order_is_refused() -> None:
    """A transfer must say which order to pay."""
    error = refusal(transfer_request(new_order=None))

    assert error.reason == "bad_schema"
    assert error.detail == "data.new_order: a transfer must name its new order"


def test_a_refund_with_a_new_order_is_refused() -> None:
    """A refund pays no order, so naming one is a contradiction."""
    error = refusal(transfer_request(action="refund"))

    assert error.reason == "bad_schema"
    assert error.detail == "data.new_order: a refund takes no new order"


def test_a_refund_without_new_order_parses() -> None:
    """A refund needs no new order."""
    request = transfer_request(action="refund")
    del request["data"]["new_order"]

    event = parse_inbound(request)

    assert isinstance(event, CreditRequestedEvent)
    assert event.data.new_order is None


def test_id_and_type_are_recovered_from_an_otherwise_invalid_body() -> None:
    """Ops can trace a refused event to its publisher even when `data` is unusable."""
    body = payment()
    body["data"] = "not an object"
    body["time"] = "yesterday"

    error = refusal(body)

    assert (error.event_id, error.event_type) == ("evt-0001", "payment.received")


def test_invalid_event_is_a_message_error_that_survives_pickling() -> None:
    """Result backends and process pools pickle exceptions; no field may be lost."""
    error = refusal(payment(amount="1.001"))

    copied = pickle.loads(pickle.dumps(error))

    assert isinstance(copied, InvalidEvent)
    assert isinstance(copied, MessageError)
    assert (copied.reason, copied.detail, copied.event_id, copied.event_type) == (
        error.reason,
        error.detail,
        error.event_id,
        error.event_type,
    )


def test_inbound_types_lists_every_member_of_the_union() -> None:
    """`INBOUND_TYPES` and the `InboundEvent` union never drift apart."""
    union, _ = get_args(InboundEvent)
    declared = {get_args(member.model_fields["type"].annotation)[0] for member in get_args(union)}

    assert declared == set(INBOUND_TYPES)


def test_parsing_does_not_mutate_a_mapping_body() -> None:
    """A decoded body handed in by a worker is left as it was (it may be dead-lettered)."""
    body = payment()
    before = copy.deepcopy(body)

    parse_inbound(body)

    assert body == before


def test_an_id_that_is_not_unicode_is_reported_escaped() -> None:
    """A lone surrogate (valid JSON escape, invalid Unicode) cannot be stored or sent
    as it is: the rejection carries it as a backslash escape."""
    error = refusal('{"specversion":"1.0","id":"evt-\\ud800","source":"b","type":"x\\udfff"}')

    assert error.reason == "unknown_type"
    assert (error.event_id, error.event_type) == ("evt-\\ud800", "x\\udfff")
    f"{error.event_id}{error.event_type}{error.detail}".encode()


def test_an_absurdly_long_id_or_type_is_cut_to_what_the_books_keep() -> None:
    """The report of an event must not fail because its id or type is too long."""
    error = refusal({**payment(), "id": "e" * 1_000, "type": "t" * 1_000})

    assert error.event_id is not None and len(error.event_id) == 255
    assert error.event_type is not None and len(error.event_type) == 64
    assert error.event_id.endswith("...")


@pytest.mark.parametrize(
    "character",
    ["\x1b", "\n", "\r", "\x00", "\x7f", "\x85", "\x9b"],
    ids=["escape", "newline", "carriage-return", "nul", "del", "c1-next-line", "c1-csi"],
)
def test_an_identifier_with_a_control_character_is_refused(character: str) -> None:
    """C0, DEL and C1 controls in an id would reach terminals and tables as sent: an
    id carrying one is refused, wherever it is, and the report names the character."""
    for body in (
        payment(order_id=f"MI{character}0001"),
        payment(customer_id=f"1234567{character}@aruba.it"),
        transfer_request(request_id=f"REQ{character}1"),
        {**payment(), "id": f"evt{character}1"},
    ):
        error = refusal(body)

        assert error.reason == "bad_schema"
        assert f"U+{ord(character):04X}" in error.detail


def test_the_report_of_an_unparseable_body_escapes_its_control_characters() -> None:
    """An id read from a body that is refused anyway is reported with its control
    characters escaped, so the report itself is safe to store and print."""
    error = refusal({**payment(), "id": "evt\x1b[31m\n1", "time": "yesterday"})

    assert error.event_id == "evt\\x1b[31m\\x0a1"


def test_each_identifier_is_bounded_by_its_column_in_the_books() -> None:
    """An order number of 64 characters is accepted (its credit, ``CR-`` and the
    number, still fits the books); one of 65 is refused up front as ``bad_schema``."""
    accepted = parse_inbound(payment(order_id="M" * 64))
    error = refusal(payment(order_id="M" * 65))

    assert isinstance(accepted, PaymentReceivedEvent)
    assert accepted.data.order_id == "M" * 64
    assert error.reason == "bad_schema"
    assert error.detail == "data.order_id: String should have at most 64 characters"


def test_an_order_number_is_bounded_once_upper_cased() -> None:
    """Order numbers are kept upper-cased, and a few letters grow when upper-cased
    (``ß`` is ``SS``): the bound holds for what the books keep."""
    error = refusal(payment(order_id="ß" * 40))

    assert error.reason == "bad_schema"
    assert error.detail == (
        "data.order_id: String should have at most 64 characters once upper-cased"
    )
