"""What log lines may say: no secret, no customer id in clear, no body, no escape code,
no traceback locals, in both formats, for residuo's lines and its libraries' alike."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from dramatiq import Message
from dramatiq.broker import MessageProxy

from residuo.bootstrap import configure_logging
from residuo.log_privacy import LogScrubber
from residuo.settings import Settings

pytestmark = pytest.mark.reliability

PASSWORD = "s3cr3t-Pa55"
CUSTOMER = "1234567@aruba.it"
DATABASE_URL = f"postgresql://residuo:{PASSWORD}@db.example:5432/residuo"


def configured(log_format: str, **settings: str) -> None:
    configure_logging(
        Settings(
            database_url=DATABASE_URL,
            log_format=log_format,
            log_level="INFO",
            **settings,  # type: ignore[arg-type]
        )
    )


def connect(conninfo: str) -> None:
    """Fails holding the password in a local, as psycopg's ``connect`` does."""
    password = conninfo.split("password=")[1]
    raise ConnectionError(f"connection failed for a password of {len(password)} characters")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_traceback_shows_no_local_and_no_password(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The campaign's leak: tracebacks rendered each frame's locals, and psycopg's hold
    the connection parameters. Neither the locals nor the password are written."""
    configured(log_format)
    try:
        connect(f"host=db.example password={PASSWORD}")
    except ConnectionError:
        structlog.get_logger("test").exception("database unreachable")

    written = capsys.readouterr().err
    assert "ConnectionError" in written
    assert "connection failed for a password of 11 characters" in written
    assert PASSWORD not in written
    assert "conninfo" not in written


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_secrets_in_messages_are_masked(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The configured passwords anywhere in a line, and anything shaped like one."""
    configured(log_format)
    logger = structlog.get_logger("test")

    logger.error("connecting", url=DATABASE_URL, detail=f"raw {PASSWORD} here")
    logger.error("conninfo host=x password=other-secret user=y")
    logger.error("broker", url="amqp://guest:guest-secret@rabbit:5672/%2F")
    logging.getLogger("alembic").error("failed on %s", DATABASE_URL)

    written = capsys.readouterr().err
    for secret in (PASSWORD, "other-secret", "guest-secret"):
        assert secret not in written
    assert "postgresql://residuo:***@db.example:5432/residuo" in written
    assert "password=***" in written


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_customer_ids_are_pseudonymised_and_still_correlate(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A customer id is replaced by a keyed hash, in its own field and wherever the
    same line mentions it; two lines about one customer carry the same pseudonym."""
    configured(log_format, log_pseudonym_key="k" * 32)
    pseudonym = LogScrubber(secrets=[], pseudonym_key=b"k" * 32).pseudonym(CUSTOMER)
    logger = structlog.get_logger("test")

    structlog.contextvars.bind_contextvars(customer_id=CUSTOMER)
    try:
        logger.error("refused", detail=f"Key (customer_id)=({CUSTOMER}) already exists")
        logger.info("applied")
    finally:
        structlog.contextvars.clear_contextvars()

    written = capsys.readouterr().err
    assert CUSTOMER not in written
    assert written.count(pseudonym) == 3
    assert pseudonym.startswith("cust_")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("no credit for 42.", "no credit for {}."),
        ("customer=42, order MI0420", "customer={}, order MI0420"),
        ("KeyError: '42'", "KeyError: '{}'"),
        ("(42) owes nothing", "({}) owes nothing"),
        ("evt-42 at 2026-04-20T10:42:00Z for MI0420 and 42x", None),
        ("order 42.1 and 4242", None),
    ],
)
def test_a_customer_id_is_replaced_only_where_it_stands_alone(text: str, kept: str | None) -> None:
    """A customer id is a token of its own in a text (beside spaces, quotes, brackets,
    a sentence's last full stop); inside a longer id, an order number or an instant
    it is left alone (``None``: the text unchanged)."""
    scrubber = LogScrubber(secrets=[], pseudonym_key=b"key")

    line = scrubber(None, "info", {"event": "x", "customer_id": "42", "detail": text})

    expected = text if kept is None else kept.format(scrubber.pseudonym("42"))
    assert line["detail"] == expected


def test_the_pseudonym_depends_on_the_key() -> None:
    """Without the key, a pseudonym cannot be recomputed from a guessed customer id."""
    one = LogScrubber(secrets=[], pseudonym_key=b"one")
    other = LogScrubber(secrets=[], pseudonym_key=b"other")

    assert one.pseudonym(CUSTOMER) == one.pseudonym(CUSTOMER)
    assert one.pseudonym(CUSTOMER) != other.pseudonym(CUSTOMER)


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_dramatiq_names_a_skipped_message_without_its_body(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dramatiq's "was skipped" warning printed every rejected event's body: now the
    actor and the message id only."""
    configured(log_format)
    event = {"id": "evt-1", "data": {"customer_id": CUSTOMER, "amount": "49.90"}}
    message = MessageProxy(Message("residuo.events", "payment_received", (event,), {}, {}))

    logging.getLogger("dramatiq.worker.WorkerThread").warning("Message %s was skipped.", message)

    written = capsys.readouterr().err
    assert f"Message payment_received#{message.message_id} was skipped." in written
    assert CUSTOMER not in written
    assert "49.90" not in written


def test_console_lines_escape_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    """An escape sequence, a newline or a right-to-left override from upstream reaches
    the terminal escaped, as ``residuo.printable`` writes it."""
    configured("console")

    structlog.get_logger("test").warning("event rejected", event_id="evt\x1b[2J\nforged\u202e")

    written = capsys.readouterr().err
    assert "\x1b[2J" not in written
    assert "\u202e" not in written
    assert "evt\\x1b[2J\\nforged\\u202e" in written
    assert written.count("\n") == 1


def test_json_lines_are_one_object_each(capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON format keeps its contract: one parseable object a line."""
    configured("json")

    structlog.get_logger("test").warning("event rejected", event_id="evt\x1b\n1")

    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["event_id"] == "evt\x1b\n1"
