"""Failures are classified in one place: transient faults, invalid messages, and
anything else, told apart by what drivers report rather than by their messages."""

from __future__ import annotations

import sqlite3

import pika.exceptions
import psycopg
import pytest
import sqlalchemy.exc
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import TimeLimitExceeded

from messages import InvalidEvent
from workers.errors import InvalidSweepError, RejectionNotRecordedError
from workers.failures import Failure, classify

pytestmark = pytest.mark.reliability


def wrapped(
    driver_error: Exception, *, connection_invalidated: bool = False
) -> sqlalchemy.exc.DBAPIError:
    """What SQLAlchemy raises for ``driver_error`` during a statement; it invalidates
    the connection when the driver says the connection is closed or broken."""
    driver_base = sqlite3.Error if isinstance(driver_error, sqlite3.Error) else psycopg.Error
    error = sqlalchemy.exc.DBAPIError.instance(
        "INSERT …", {}, driver_error, driver_base, connection_invalidated=connection_invalidated
    )
    assert isinstance(error, sqlalchemy.exc.DBAPIError)
    return error


def refused_connection() -> psycopg.OperationalError:
    """psycopg's own error for a connection attempt nobody answers (port 1 of this
    host refuses at once): no SQLSTATE, the failed connection attached."""
    try:
        psycopg.connect("host=127.0.0.1 port=1 dbname=residuo connect_timeout=2")
    except psycopg.OperationalError as error:
        return error
    raise AssertionError("something listens on port 1")


def sqlite_error(kind: type[sqlite3.Error], code: int) -> sqlite3.Error:
    error = kind("from SQLite")
    error.sqlite_errorcode = code
    return error


def report_failed(cause: Exception) -> RejectionNotRecordedError:
    try:
        raise RejectionNotRecordedError("could not report bad_json") from cause
    except RejectionNotRecordedError as error:
        return error


@pytest.mark.parametrize(
    "error",
    [
        wrapped(refused_connection()),
        wrapped(psycopg.errors.SerializationFailure("could not serialize access")),
        wrapped(psycopg.errors.DeadlockDetected("deadlock detected")),
        wrapped(psycopg.errors.AdminShutdown("terminating connection")),
        wrapped(psycopg.errors.TooManyConnections("too many clients")),
        wrapped(psycopg.errors.LockNotAvailable("could not obtain lock")),
        wrapped(sqlite_error(sqlite3.OperationalError, 5)),  # SQLITE_BUSY
        wrapped(sqlite_error(sqlite3.OperationalError, 6 | 256)),  # an extended LOCKED code
        wrapped(psycopg.OperationalError("consuming input failed"), connection_invalidated=True),
        sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
        ConnectionClosed(OSError("broker gone")),  # type: ignore[no-untyped-call]
        pika.exceptions.AMQPConnectionError("refused"),
        ConnectionRefusedError("refused"),
        TimeoutError("timed out"),
        TimeLimitExceeded(),
        report_failed(
            wrapped(
                psycopg.OperationalError("server closed the connection"),
                connection_invalidated=True,
            )
        ),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_fault_that_passes_is_transient(error: BaseException) -> None:
    """Database or broker away, serialization failure, deadlock, lock or pool timeout."""
    assert classify(error) is Failure.TRANSIENT


@pytest.mark.parametrize(
    "error",
    [
        InvalidEvent("bad_json", "body is not JSON"),
        InvalidSweepError("no scheduled run claimed"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_message_that_can_never_succeed_is_invalid(error: BaseException) -> None:
    assert classify(error) is Failure.INVALID


@pytest.mark.parametrize(
    "error",
    [
        wrapped(psycopg.errors.StringDataRightTruncation("value too long for varchar(64)")),
        wrapped(psycopg.errors.UniqueViolation("duplicate key value")),
        wrapped(psycopg.errors.CheckViolation("violates check constraint")),
        wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
        wrapped(psycopg.errors.UndefinedTable('relation "orders" does not exist')),
        wrapped(sqlite_error(sqlite3.OperationalError, 1)),  # SQLITE_ERROR: no such table
        wrapped(sqlite_error(sqlite3.IntegrityError, 19)),  # SQLITE_CONSTRAINT
        # Refused by psycopg before sending, on a healthy connection: no code.
        wrapped(
            psycopg.OperationalError(
                "sending query and params failed: number of parameters must be between 0 and 65535"
            )
        ),
        sqlalchemy.exc.OperationalError("INSERT", {}, Exception("no code, connection fine")),
        OverflowError("date value out of range"),
        ValueError("year 10000 is out of range"),
        ZeroDivisionError("division by zero"),
        KeyError("order_id"),
        report_failed(ValueError("a bug in the report")),
    ],
    ids=lambda error: type(error).__name__,
)
def test_anything_else_is_a_processing_error(error: BaseException) -> None:
    """A bug or a value the books cannot hold: retrying it for hours would not help."""
    assert classify(error) is Failure.PROCESSING
