"""Real PostgreSQL and RabbitMQ servers for integration tests.

A server comes from the first of these that applies:

1. a URL in the environment (`RESIDUO_TEST_POSTGRES_URL`, a SQLAlchemy URL such as
   `postgresql+psycopg://user:pw@host:5432/postgres`; `RESIDUO_TEST_RABBITMQ_URL`,
   an `amqp://` URL): used as given, and reported unavailable if it does not answer;
2. a container through testcontainers, when a Docker engine answers a ping;
3. a private server started from the local binaries (Debian's `postgresql` and
   `rabbitmq-server` packages) in a temporary directory, on free ports.

A RabbitMQ cluster (three nodes, for the quorum-queue test) only ever comes from the
local binaries.

Otherwise `ServerUnavailableError` says what was tried. A mock never stands in for a
server: what these tests prove is that residuo works against the real thing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TypeVar

from _servers.base import PostgresServer, RabbitMQServer, ServerUnavailableError
from _servers.env import POSTGRES_VARIABLE, RABBITMQ_VARIABLE, EnvPostgres, EnvRabbitMQ
from _servers.local_postgres import LocalPostgres
from _servers.local_rabbitmq import LocalRabbitMQ
from _servers.local_rabbitmq_cluster import LocalRabbitMQCluster

__all__ = [
    "LocalRabbitMQCluster",
    "PostgresServer",
    "RabbitMQServer",
    "ServerUnavailableError",
    "provide_postgres",
    "provide_rabbitmq",
    "provide_rabbitmq_cluster",
]

Server = TypeVar("Server", PostgresServer, RabbitMQServer)


def provide_postgres() -> PostgresServer:
    """A running PostgreSQL server; the caller must `close()` it."""
    if url := os.environ.get(POSTGRES_VARIABLE):
        return EnvPostgres.connect(url)
    return _launch_first(
        f"no PostgreSQL ({POSTGRES_VARIABLE} is not set)",
        in_docker=_postgres_in_docker,
        local=LocalPostgres.launch,
    )


def provide_rabbitmq() -> RabbitMQServer:
    """A running RabbitMQ broker; the caller must `close()` it."""
    if url := os.environ.get(RABBITMQ_VARIABLE):
        return EnvRabbitMQ.connect(url)
    return _launch_first(
        f"no RabbitMQ ({RABBITMQ_VARIABLE} is not set)",
        in_docker=_rabbitmq_in_docker,
        local=LocalRabbitMQ.launch,
    )


def provide_rabbitmq_cluster() -> LocalRabbitMQCluster:
    """Three clustered RabbitMQ nodes from the local binaries (neither a URL nor a
    container can be stopped node by node); the caller must `close()` them."""
    return LocalRabbitMQCluster.launch()


def _launch_first(
    summary: str, *, in_docker: Callable[[], Server], local: Callable[[], Server]
) -> Server:
    """A container if Docker can give one, else a server from the local binaries."""
    failures: list[str] = []
    if _docker_answers():
        try:
            return in_docker()
        except ServerUnavailableError as error:
            failures.append(f"Docker: {error}")
    else:
        failures.append("Docker: no engine answers")
    try:
        return local()
    except ServerUnavailableError as error:
        failures.append(f"local binaries: {error}")
    raise ServerUnavailableError("; ".join([summary, *failures]))


# testcontainers takes most of a second to import: only pay for it when asked.


@functools.cache
def _docker_answers() -> bool:
    from _servers.containers import docker_answers  # noqa: PLC0415

    return docker_answers()


def _postgres_in_docker() -> PostgresServer:
    from _servers.containers import ContainerPostgres  # noqa: PLC0415

    return ContainerPostgres.launch()


def _rabbitmq_in_docker() -> RabbitMQServer:
    from _servers.containers import ContainerRabbitMQ  # noqa: PLC0415

    return ContainerRabbitMQ.launch()
