"""Servers in Docker containers through testcontainers, when a Docker engine answers.

Each container publishes its port on a host port chosen up front rather than a
random one, because Docker may hand out a different random port after a restart
and a test restarting the broker expects clients to find it where it was.
The images match what Debian 12 ships, so CI (local binaries) and laptops (Docker)
run the same server versions.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient

from .base import (
    PostgresServer,
    RabbitMQServer,
    ServerUnavailableError,
    VhostPool,
    free_ports,
    wait_for_postgres,
    wait_for_rabbitmq,
)

POSTGRES_IMAGE = "postgres:15-alpine"
RABBITMQ_IMAGE = "rabbitmq:3.10-management-alpine"
START_TIMEOUT = 120
STOP_TIMEOUT = 60
PING_TIMEOUT = 3


def docker_answers() -> bool:
    """Whether a Docker engine answers a ping within a few seconds."""
    try:
        client = DockerClient(timeout=PING_TIMEOUT).client
    except Exception:  # docker-py raises several unrelated types when no engine is there
        return False
    try:
        client.ping()
    except Exception:
        return False
    finally:
        client.close()
    return True


def _start(image: str, configure: Callable[[DockerContainer], DockerContainer]) -> DockerContainer:
    try:
        return configure(DockerContainer(image)).start()
    except Exception as error:  # pulling, creating or starting: docker-py has many errors
        raise ServerUnavailableError(f"could not start {image}: {error}") from error


def _stop_keeping_data(container: DockerContainer) -> None:
    # Unlike DockerContainer.stop(), which removes the container and its volumes.
    container.get_wrapped_container().stop(timeout=STOP_TIMEOUT)


def _start_again(container: DockerContainer) -> None:
    container.get_wrapped_container().start()


class ContainerPostgres(PostgresServer):
    """PostgreSQL in a container; build it with `ContainerPostgres.launch()`."""

    def __init__(self, container: DockerContainer, url: str) -> None:
        self._container = container
        self.url = url

    @classmethod
    def launch(cls) -> ContainerPostgres:
        """Start the container and wait until PostgreSQL answers."""
        (host_port,) = free_ports(1)
        container = _start(
            POSTGRES_IMAGE,
            lambda container: (
                container.with_env("POSTGRES_PASSWORD", "postgres")
                .with_bind_ports(5432, host_port)
                .with_command(
                    "postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                    " -c max_connections=200"
                )
            ),
        )
        host, port = container.get_container_host_ip(), container.get_exposed_port(5432)
        server = cls(container, f"postgresql+psycopg://postgres:postgres@{host}:{port}/postgres")
        try:
            wait_for_postgres(server.url, timeout=START_TIMEOUT)
        except BaseException:
            server.close()
            raise
        return server

    def restart(self) -> None:
        _stop_keeping_data(self._container)
        _start_again(self._container)
        wait_for_postgres(self.url, timeout=START_TIMEOUT)

    def close(self) -> None:
        self._container.stop()


class ContainerRabbitMQ(RabbitMQServer):
    """RabbitMQ in a container; build it with `ContainerRabbitMQ.launch()`."""

    def __init__(self, container: DockerContainer, url: str) -> None:
        self._container = container
        self.url = url
        self._vhosts = VhostPool(self, self._import_definitions)

    @classmethod
    def launch(cls) -> ContainerRabbitMQ:
        """Start the container and wait until the broker accepts AMQP connections."""
        host_port, management_port = free_ports(2)
        container = _start(
            RABBITMQ_IMAGE,
            lambda container: container.with_bind_ports(5672, host_port).with_bind_ports(
                15672, management_port
            ),
        )
        host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
        server = cls(container, f"amqp://guest:guest@{host}:{port}/%2F")
        server.management_url = f"http://guest:guest@{host}:{management_port}/"
        try:
            wait_for_rabbitmq(server.url, timeout=START_TIMEOUT)
        except BaseException:
            server.close()
            raise
        return server

    def fresh_vhost_url(self) -> str:
        return self._vhosts.take()

    def stop(self) -> None:
        _stop_keeping_data(self._container)

    def start(self) -> None:
        _start_again(self._container)
        wait_for_rabbitmq(self.url, timeout=START_TIMEOUT)

    def close(self) -> None:
        self._container.stop()

    def _import_definitions(self, definitions: str) -> None:
        path = "/tmp/residuo-definitions.json"
        write = f"printf %s {shlex.quote(definitions)} > {path}"
        script = f"{write} && rabbitmqctl import_definitions {path}"
        exit_code, output = self._container.exec(["sh", "-c", script])
        if exit_code != 0:
            raise ServerUnavailableError(f"rabbitmqctl import_definitions failed: {output!r}")
