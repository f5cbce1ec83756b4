"""Servers someone else runs, given by URL in the environment.

A URL in the environment is a promise that the server is there: if it does not
answer, the tests say so instead of quietly falling back to another server.
Such servers are not ours to stop, so restarting them skips the test.
"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from .base import (
    PostgresServer,
    RabbitMQServer,
    ServerUnavailableError,
    wait_for_postgres,
    wait_for_rabbitmq,
)

POSTGRES_VARIABLE = "RESIDUO_TEST_POSTGRES_URL"
RABBITMQ_VARIABLE = "RESIDUO_TEST_RABBITMQ_URL"
PROBE_TIMEOUT = 5


class EnvPostgres(PostgresServer):
    """The PostgreSQL server at `RESIDUO_TEST_POSTGRES_URL`; its user needs CREATEDB."""

    def __init__(self, url: str) -> None:
        with_psycopg = make_url(url).set(drivername="postgresql+psycopg")
        self.url = with_psycopg.render_as_string(hide_password=False)

    @classmethod
    def connect(cls, url: str) -> EnvPostgres:
        """Check that the server answers, or explain that it does not."""
        server = cls(url)
        try:
            wait_for_postgres(server.url, timeout=PROBE_TIMEOUT)
        except ServerUnavailableError as error:
            raise ServerUnavailableError(f"{POSTGRES_VARIABLE} is set, but {error}") from error
        return server

    def restart(self) -> None:
        pytest.skip(f"cannot restart the PostgreSQL server given by {POSTGRES_VARIABLE}")

    def close(self) -> None:
        """Nothing to do: the server belongs to whoever gave its URL."""


class EnvRabbitMQ(RabbitMQServer):
    """The broker at `RESIDUO_TEST_RABBITMQ_URL`.

    Creating vhosts needs `rabbitmqctl` or the management API, neither of which an
    AMQP URL gives, so every test shares the URL's vhost: point it at a broker
    dedicated to tests.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    @classmethod
    def connect(cls, url: str) -> EnvRabbitMQ:
        """Check that the broker answers, or explain that it does not."""
        try:
            wait_for_rabbitmq(url, timeout=PROBE_TIMEOUT)
        except ServerUnavailableError as error:
            raise ServerUnavailableError(f"{RABBITMQ_VARIABLE} is set, but {error}") from error
        return cls(url)

    def fresh_vhost_url(self) -> str:
        return self.url

    def stop(self) -> None:
        pytest.skip(f"cannot stop the broker given by {RABBITMQ_VARIABLE}")

    def start(self) -> None:
        """Nothing to do: `stop()` never stops this broker, so it is running."""

    def close(self) -> None:
        """Nothing to do: the broker belongs to whoever gave its URL."""
