"""Why a message failed, decided in one place: a fault that passes, an event that can
never be valid, or anything else.

=============  ==============================================  =========================
kind           what                                            then
=============  ==============================================  =========================
``transient``  the database or the broker unavailable, a       retried with backoff for
               serialization failure, a deadlock, a lock or    hours (``RetryPolicy``);
               pool timeout, a handler cut short by its time   once exhausted,
               limit (a hung connection)                       ``retries_exhausted``
``invalid``    an event that can never be valid, a sweep       dead-lettered at once
               message no scheduler sent                       (``not_retryable``)
``processing`` anything else: a bug, a value the books         a few tries, then
               cannot hold                                     ``processing_error``
=============  ==============================================  =========================

Ops are told (``event.rejected``) of every inbound event that ends in a dead-letter
queue, whatever its kind (``workers.middleware``). Database errors are told apart by
what the driver reports, not by their message: PostgreSQL's SQLSTATE (class 08
connection, 40 rollback, 53 resources, 58 system, and a few of 55 and 57), SQLite's
result code (busy, locked, I/O, full), and, when there is no code at all, whether
the connection is really gone: SQLAlchemy invalidates one psycopg reports
``closed`` or ``broken``, and psycopg attaches the failed connection (``pgconn``)
to the error of a connection attempt. Any other error without a code, such as
psycopg refusing a query of more than 65,535 parameters before sending it, is raised
by a healthy connection and would fail the same way every time: a processing error,
not a fault to wait out.
"""

from enum import StrEnum
from typing import Final

import pika.exceptions
import sqlalchemy.exc
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import TimeLimitExceeded

from messages import InvalidEvent
from workers.errors import InvalidSweepError, RejectedEventError, RejectionNotRecordedError

__all__ = ["Failure", "classify"]


class Failure(StrEnum):
    """The kinds of failure, see the module."""

    TRANSIENT = "transient"
    INVALID = "invalid"
    PROCESSING = "processing"


_INVALID: Final = (InvalidEvent, InvalidSweepError, RejectedEventError)
_TRANSIENT: Final = (
    BrokerConnectionError,
    pika.exceptions.AMQPError,
    TimeLimitExceeded,
    ConnectionError,
    TimeoutError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,
)

_TRANSIENT_SQLSTATE_CLASSES: Final = frozenset({"08", "40", "53", "58"})
_TRANSIENT_SQLSTATES: Final = frozenset(
    {
        "55P03",  # lock_not_available
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
    }
)
# SQLite primary result codes: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL.
_TRANSIENT_SQLITE_CODES: Final = frozenset({5, 6, 10, 13})
_SQLITE_PRIMARY_CODE_MASK: Final = 0xFF


def classify(error: BaseException) -> Failure:
    """The kind of ``error`` (see the module)."""
    if isinstance(error, RejectionNotRecordedError) and error.__cause__ is not None:
        # The report of an invalid event failed: what matters is why it failed.
        return classify(error.__cause__)
    if isinstance(error, _INVALID):
        return Failure.INVALID
    if isinstance(error, (*_TRANSIENT, RejectionNotRecordedError)):
        return Failure.TRANSIENT
    if isinstance(error, sqlalchemy.exc.DBAPIError) and _transient_database_error(error):
        return Failure.TRANSIENT
    return Failure.PROCESSING


def _transient_database_error(error: sqlalchemy.exc.DBAPIError) -> bool:
    if error.connection_invalidated:
        return True
    driver_error = error.orig
    sqlstate = getattr(driver_error, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES or sqlstate in _TRANSIENT_SQLSTATES
    sqlite_code = getattr(driver_error, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & _SQLITE_PRIMARY_CODE_MASK in _TRANSIENT_SQLITE_CODES
    # psycopg's documented ``Error.pgconn``: set only when a connection attempt failed.
    return getattr(driver_error, "pgconn", None) is not None
