"""The database breaks under a running ``residuo worker``: its log, in either format,
tells the failure and the recovery, and never the database password or a customer id.

The campaign found both in clear: JSON tracebacks rendered each frame's locals (and
psycopg's ``connect`` holds the connection parameters), console tracebacks did the
same, and Dramatiq's own lines printed whole event bodies.
"""

from __future__ import annotations

import json
import secrets

import pytest
from e2e.stack import Stack, wait_until
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from ledger.store import schema
from residuo.log_privacy import LogScrubber

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

PSEUDONYM_KEY = "a key shared by every residuo process of this deployment"
CUSTOMERS = ("7654321@aruba.it", "1234567@aruba.it")


def payment(number: int, customer: str) -> bytes:
    paid_at = "2026-01-10T09:30:00+01:00"
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"evt-pay-{number}",
            "source": "billing",
            "type": "payment.received",
            "time": paid_at,
            "data": {
                "order_id": f"MI{number:04d}",
                "customer_id": customer,
                "service": "hosting",
                "amount": "10.00",
                "currency": "EUR",
                "paid_at": paid_at,
                "method": "card",
                "reference": None,
            },
        }
    ).encode()


def run_sql(engine: Engine, statement: sql.Composable) -> None:
    with engine.connect() as connection:
        connection.execute(text(statement.as_string()))
        connection.commit()


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_database_broken_under_a_running_worker_leaks_nothing_to_its_log(
    stack: Stack, log_format: str
) -> None:
    """A role with a password the worker logs in with; it is refused logins and its
    connections are cut while the worker runs, then allowed again. The worker logs
    the failure (with its traceback) and recovers, and its log holds neither the
    password nor either customer's id, only their pseudonyms."""
    role, password = f"scrub_{secrets.token_hex(4)}", f"pw-{secrets.token_hex(12)}"
    role_id = sql.Identifier(role)
    run_sql(
        stack.engine,
        sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(role_id, password),
    )
    url = make_url(str(stack.environment["RESIDUO_DATABASE_URL"]))
    worker_url = url.set(username=role, password=password).render_as_string(hide_password=False)
    worker = stack.start(
        "worker",
        f"worker-{log_format}",
        database_url=worker_url,
        log_format=log_format,
        log_pseudonym_key=PSEUDONYM_KEY,
        retry_min_backoff_ms="200",
        retry_max_backoff_ms="1000",
    )
    first, second = CUSTOMERS
    wait_until(lambda: stack.consumers("residuo.events") > 0, "the worker", worker)

    stack.publish([payment(1, first)])
    wait_until(lambda: stack.count(schema.orders) == 1, "the first payment", worker)
    run_sql(stack.engine, sql.SQL("ALTER ROLE {} NOLOGIN").format(role_id))
    run_sql(
        stack.engine,
        sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {}").format(
            sql.Literal(role)
        ),
    )
    stack.publish([payment(2, second)])
    wait_until(
        lambda: worker.log.read_text(errors="replace").count("not permitted to log in") >= 2,
        "the worker to log the broken database",
        worker,
    )
    run_sql(stack.engine, sql.SQL("ALTER ROLE {} LOGIN").format(role_id))
    wait_until(lambda: stack.count(schema.orders) == 2, "the second payment", worker)
    assert worker.stop() == 0, worker.tail()

    written = worker.log.read_text(errors="replace")
    scrubber = LogScrubber(secrets=[], pseudonym_key=PSEUDONYM_KEY.encode())
    assert "Traceback" in written or '"exception"' in written
    assert password not in written
    for customer in CUSTOMERS:
        assert customer not in written
    assert scrubber.pseudonym(second) in written
    if log_format == "json":
        assert all(json.loads(line) for line in written.splitlines() if line.startswith("{"))
