"""What every server handle offers, and the helpers the handles share.

Handles are plain objects with a `url` and a `close()`; pytest fixtures own their
lifetime. Readiness is always polled against a deadline: a server that is not ready
in time is reported as unavailable, with the reason, rather than waited on forever.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit
from uuid import uuid4

import pika
import pika.exceptions
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

POLL_INTERVAL = 0.1
"""Seconds between two readiness probes."""


class ServerUnavailableError(Exception):
    """No server of this kind could be provided; the message says why."""


class PostgresServer(ABC):
    """A PostgreSQL server on which tests create and drop their own databases.

    `url` is the SQLAlchemy URL (psycopg driver) of a maintenance database, for a
    user allowed to CREATE DATABASE.
    """

    url: str

    @abstractmethod
    def restart(self) -> None:
        """Restart the server on the same port, keeping its databases."""

    @abstractmethod
    def close(self) -> None:
        """Stop the server and remove what it stored; the handle is done afterwards."""

    def create_database(self) -> str:
        """Create an empty database with a unique name and return its SQLAlchemy URL."""
        name = f"residuo_test_{uuid4().hex[:12]}"
        self._run_maintenance(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `create_database`, even if a test left it connected."""
        name = make_url(url).database
        assert name is not None
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        self._run_maintenance(statement)

    def _run_maintenance(self, statement: sql.Composed) -> None:
        # CREATE and DROP DATABASE refuse to run inside a transaction block.
        with psycopg.connect(libpq_url(self.url), autocommit=True) as connection:
            connection.execute(statement)


class RabbitMQServer(ABC):
    """A RabbitMQ broker; `url` is the amqp:// URL of its default vhost.

    `stop()`, `start()` and `restart()` keep the port and the data, so durable
    queues and persistent messages survive them, as they would in production.
    `management_url` is the management API's base URL (credentials included), when
    the broker has the plugin and the handle knows where.
    """

    url: str
    management_url: str | None = None

    @abstractmethod
    def fresh_vhost_url(self) -> str:
        """Return the amqp:// URL of a vhost no other test has used."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the broker cleanly, keeping its data for `start()`."""

    @abstractmethod
    def start(self) -> None:
        """Start the broker on the same port unless it runs, and wait until it accepts
        connections. Harmless on a running broker, so teardown can always call it."""

    @abstractmethod
    def close(self) -> None:
        """Stop the broker and remove what it stored; the handle is done afterwards."""

    def restart(self) -> None:
        """Stop and start again: what a broker upgrade or a crash looks like to clients."""
        self.stop()
        self.start()

    def vhost_url(self, vhost: str) -> str:
        """The URL of `vhost` on this broker, with the same credentials as `url`."""
        return urlunsplit(urlsplit(self.url)._replace(path="/" + quote(vhost, safe="")))


class VhostPool:
    """Hands out fresh vhosts, creating them in batches.

    Each `rabbitmqctl` call starts an Erlang VM (about 0.5 s here) whereas one
    `import_definitions` call creates a whole batch, so a vhost per test costs a
    few hundredths of a second. Used vhosts are left in place: the broker is
    thrown away at the end of the session.
    """

    def __init__(
        self,
        server: RabbitMQServer,
        import_definitions: Callable[[str], None],
        *,
        batch_size: int = 16,
    ) -> None:
        self._server = server
        self._import_definitions = import_definitions
        self._batch_size = batch_size
        self._spare: list[str] = []

    def take(self) -> str:
        """Return the URL of an unused vhost, once the broker lets our user into it."""
        if not self._spare:
            self._spare = [f"residuo-test-{uuid4().hex[:12]}" for _ in range(self._batch_size)]
            self._import_definitions(self._definitions(self._spare))
        url = self._server.vhost_url(self._spare.pop())
        # The broker applies imported definitions asynchronously.
        wait_for_rabbitmq(url, timeout=30)
        return url

    def _definitions(self, vhosts: Sequence[str]) -> str:
        user = pika.URLParameters(self._server.url).credentials.username
        every = ".*"
        return json.dumps(
            {
                "vhosts": [{"name": vhost} for vhost in vhosts],
                "permissions": [
                    {
                        "user": user,
                        "vhost": vhost,
                        "configure": every,
                        "write": every,
                        "read": every,
                    }
                    for vhost in vhosts
                ],
            }
        )


def libpq_url(url: str) -> str:
    """The libpq form (what psycopg accepts) of a SQLAlchemy PostgreSQL URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def redacted(url: str) -> str:
    """`url` with its password masked, for messages that may end up in CI logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def wait_for(
    what: str,
    attempt: Callable[[], object],
    *,
    timeout: float,
    retry_on: tuple[type[Exception], ...],
) -> None:
    """Call `attempt` until it stops raising `retry_on`, for at most `timeout` seconds.

    Any other exception propagates at once, so an attempt can give up early (for
    instance when the server process has already died).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            attempt()
        except retry_on as error:
            if time.monotonic() >= deadline:
                message = f"{what} was not ready within {timeout:.0f} s: {error!r}"
                raise ServerUnavailableError(message) from error
            time.sleep(POLL_INTERVAL)
        else:
            return


def wait_for_postgres(
    url: str, *, timeout: float, alive: Callable[[], None] = lambda: None
) -> None:
    """Wait until `url` answers `SELECT 1`; `alive` raises if waiting is pointless."""

    def attempt() -> None:
        alive()
        with psycopg.connect(libpq_url(url), connect_timeout=2) as connection:
            connection.execute("SELECT 1")

    wait_for(
        f"PostgreSQL at {redacted(url)}",
        attempt,
        timeout=timeout,
        retry_on=(psycopg.OperationalError,),
    )


def wait_for_rabbitmq(
    url: str, *, timeout: float, alive: Callable[[], None] = lambda: None
) -> None:
    """Wait until an AMQP connection to `url` opens; `alive` raises if waiting is pointless."""

    def attempt() -> None:
        alive()
        parameters = pika.URLParameters(url)
        parameters.connection_attempts = 1
        parameters.socket_timeout = 2
        # pika logs every failed attempt with a traceback: only try it once the port
        # is open, so a failing test's captured log is not buried under the polling.
        socket.create_connection((parameters.host, parameters.port), timeout=2).close()
        pika.BlockingConnection(parameters).close()

    wait_for(
        f"RabbitMQ at {redacted(url)}",
        attempt,
        timeout=timeout,
        retry_on=(OSError, pika.exceptions.AMQPConnectionError),
    )


SERVER_PORTS = range(20000, 32000)
"""Where test servers listen: below Linux's ephemeral range (32768-60999 by default).

A port the kernel handed out for `bind(0)` is ephemeral, so while a server is stopped
for a restart test any outgoing connection on the machine may take it as its local
port, and the server then fails to come back with `eaddrinuse`. Ports from this range
are only ever handed out on request."""


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now, all different and outside the ephemeral range."""
    low, high = ephemeral_port_range()
    candidates = [port for port in SERVER_PORTS if not low <= port <= high]
    random.shuffle(candidates)
    found: list[int] = []
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise ServerUnavailableError(
        f"fewer than {count} free ports on 127.0.0.1 outside the ephemeral range {low}-{high}"
    )


def ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return 32768, 60999
    return int(low), int(high)


def as_user(user: str, argv: Sequence[str]) -> list[str]:
    """`argv` run as `user` when we are root (PostgreSQL refuses root), else as is."""
    if os.geteuid() == 0:
        return ["runuser", "-u", user, "--", *argv]
    return list(argv)


def run(what: str, argv: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command to completion and return its output, or explain its failure."""
    try:
        result = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120
        )
    except subprocess.TimeoutExpired as error:
        raise ServerUnavailableError(f"{what} did not finish within 120 s") from error
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise ServerUnavailableError(f"{what} failed (exit {result.returncode}): {output[-2000:]}")
    return result.stdout


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no {path})"
