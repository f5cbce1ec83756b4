"""attack9: what the log processors do to the rest of a line.

* ``LogScrubber`` replaces a customer id *wherever it occurs as a substring* of the
  line's other values. An account id that is a plain number (``"42"``) rewrites
  every ``42`` of the line: the event id ``evt-42``, an order number ``MI0420``,
  the timestamp. The line no longer says which event or order it was about.
* ``escape_control_characters`` escapes C0, C1 and DEL only. Identifiers accept the
  other invisible characters a terminal obeys (U+202E RIGHT-TO-LEFT OVERRIDE, U+2028
  LINE SEPARATOR), which ``residuo.printable`` escapes everywhere else: an event id
  from upstream reverses the rest of a console log line.

Expected: only the customer id is replaced; a console line shows what
``residuo.printable`` would show.
"""

from typing import Any

from residuo.log_privacy import LogScrubber, escape_control_characters
from residuo.printable import printable


def test_attack9_a_numeric_customer_id_leaves_the_other_ids_of_the_line_alone() -> None:
    scrubber = LogScrubber(secrets=[], pseudonym_key=b"key")
    line: dict[str, Any] = {
        "event": "event applied",
        "customer_id": "42",
        "event_id": "evt-42",
        "order_id": "MI0420",
        "timestamp": "2026-04-20T10:42:00Z",
    }

    scrubbed = scrubber(None, "info", line)

    assert scrubbed["customer_id"] == scrubber.pseudonym("42")
    assert scrubbed["event_id"] == "evt-42"
    assert scrubbed["order_id"] == "MI0420"
    assert scrubbed["timestamp"] == "2026-04-20T10:42:00Z"


def test_attack9_a_console_line_escapes_what_printable_escapes() -> None:
    event_id = "evt-\u202e1234\u2028forged"

    line = escape_control_characters(None, "info", {"event": "event applied", "event_id": event_id})

    assert line["event_id"] == printable(event_id)
