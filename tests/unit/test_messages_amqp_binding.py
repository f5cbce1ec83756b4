"""CloudEvents binary content mode over AMQP: the structured event a message stands for."""

from datetime import UTC, datetime
from typing import Any

import pytest

from messages import InvalidEvent
from messages.amqp_binding import structured_event

DATA = b'{"order_id": "MI0001", "activated_at": "2026-01-12T10:00:00+01:00"}'
HEADERS: dict[str, Any] = {
    "cloudEvents_specversion": "1.0",
    "cloudEvents_id": "evt-1",
    "cloudEvents_source": "billing",
    "cloudEvents_type": "activation.completed",
    "cloudEvents_time": "2026-01-12T10:00:00+01:00",
}


def test_a_message_without_cloudevents_headers_is_structured() -> None:
    """No ``cloudEvents_specversion`` header: the body is the whole event, as always."""
    assert structured_event({"x-other": "1"}, "application/json", DATA) is None
    assert structured_event(None, None, DATA) is None


def test_a_cloudevents_content_type_means_structured_whatever_the_headers() -> None:
    """The binding tells structured mode by ``application/cloudevents…``."""
    assert structured_event(HEADERS, "application/cloudevents+json", DATA) is None


def test_binary_mode_attributes_come_from_the_headers_and_data_from_the_body() -> None:
    """Each ``cloudEvents_`` header is an attribute, extensions included; the content
    type is ``datacontenttype``; other headers are not attributes."""
    headers = HEADERS | {"cloudEvents_traceparent": "00-abc", "x-retry": 1}

    event = structured_event(headers, "application/json", DATA)

    assert event == {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "billing",
        "type": "activation.completed",
        "time": "2026-01-12T10:00:00+01:00",
        "traceparent": "00-abc",
        "datacontenttype": "application/json",
        "data": {"order_id": "MI0001", "activated_at": "2026-01-12T10:00:00+01:00"},
    }


def test_the_colon_separator_is_understood_and_the_underscore_wins() -> None:
    """``cloudEvents:`` names are allowed by the binding; if one attribute came under
    both separators, the preferred ``_`` one is kept."""
    headers = {name.replace("_", ":"): value for name, value in HEADERS.items()}
    headers["cloudEvents_id"] = "evt-underscore"

    event = structured_event(headers, None, DATA)

    assert event is not None
    assert event["id"] == "evt-underscore"
    assert event["type"] == "activation.completed"
    assert "datacontenttype" not in event


def test_amqp_typed_values_become_their_canonical_strings() -> None:
    """An AMQP timestamp is ISO 8601 in UTC and binary is base64; integers and booleans
    keep their type."""
    headers = HEADERS | {
        "cloudEvents_time": datetime(2026, 1, 12, 9, 0, tzinfo=UTC),
        "cloudEvents_blob": b"\x00\xff",
        "cloudEvents_sequence": 3,
        "cloudEvents_replayed": True,
    }

    event = structured_event(headers, "application/json", DATA)

    assert event is not None
    assert event["time"] == "2026-01-12T09:00:00+00:00"
    assert event["blob"] == "AP8="
    assert (event["sequence"], event["replayed"]) == (3, True)


def test_a_body_that_is_not_json_is_kept_as_text_for_validation_to_refuse() -> None:
    """The event keeps its id and type, so its rejection names them; an empty body
    leaves ``data`` out."""
    event = structured_event(HEADERS, "application/json", b"not json")

    assert event is not None and event["data"] == "not json" and event["id"] == "evt-1"
    empty = structured_event(HEADERS, "application/json", b"")
    assert empty is not None and "data" not in empty


def test_byte_arrays_of_text_attributes_are_their_utf8_text() -> None:
    """Java's ``byte[]``, Go's ``[]byte``, a .NET forwarder: a core attribute or a
    tracing extension sent as an AMQP byte array is its UTF-8 text, not base64, so the
    event keeps the publisher's id (its idempotency key) and type."""
    headers = {name: value.encode() for name, value in HEADERS.items()}
    headers["cloudEvents_traceparent"] = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers["cloudEvents_subject"] = "città".encode()

    event = structured_event(headers, "application/json", DATA)

    assert event is not None
    assert {name: event[name] for name in ("specversion", "id", "type", "subject")} == {
        "specversion": "1.0",
        "id": "evt-1",
        "type": "activation.completed",
        "subject": "città",
    }
    assert event["traceparent"].startswith("00-0af76519")


def test_a_text_attribute_whose_bytes_are_not_utf8_refuses_the_event() -> None:
    """Bytes that are no text cannot be an id: refused, naming the header, under the
    event's id and type when those could be read."""
    headers = HEADERS | {"cloudEvents_source": b"billing\xff"}

    with pytest.raises(InvalidEvent) as refused:
        structured_event(headers, "application/json", DATA)

    assert refused.value.reason == "bad_schema"
    assert refused.value.detail.startswith("cloudEvents_source: a byte array that is not UTF-8")
    assert (refused.value.event_id, refused.value.event_type) == ("evt-1", "activation.completed")


def test_a_header_name_that_is_not_text_names_no_attribute() -> None:
    """pika hands over a header name that is not UTF-8 as bytes: it is no attribute."""
    headers: dict[Any, Any] = HEADERS | {b"cloudEvents_\xffx": "ignored"}

    event = structured_event(headers, "application/json", DATA)

    assert event is not None and "x" not in event and event["id"] == "evt-1"


@pytest.mark.parametrize(
    "content_type", ["Application/CloudEvents+JSON", "APPLICATION/CLOUDEVENTS+json; charset=utf-8"]
)
def test_the_structured_media_type_is_matched_without_regard_to_case(content_type: str) -> None:
    """RFC 9110 §8.3.1: media types are case-insensitive, so this is structured mode."""
    assert structured_event(HEADERS, content_type, DATA) is None
