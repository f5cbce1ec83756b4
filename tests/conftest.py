"""Fixtures for real servers, and the rule that CI may not skip them.

Any test that requests `postgres_server`, `postgres_url`, `rabbitmq_server`,
`rabbitmq_url` or `rabbitmq_cluster` (directly or through another fixture) is marked
`integration` automatically. Servers are started lazily, once per session, by `servers`.

On a laptop without servers those tests skip. With `RESIDUO_REQUIRE_INTEGRATION=1`
(set by `.ci/run`) a missing server fails the test instead, and the session fails
if any integration test was skipped anyway or if none ran at all: a green CI run
must mean the integration tests really talked to PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from servers import (
    LocalRabbitMQCluster,
    PostgresServer,
    RabbitMQServer,
    ServerUnavailableError,
    provide_postgres,
    provide_rabbitmq,
    provide_rabbitmq_cluster,
)

REQUIRE_VARIABLE = "RESIDUO_REQUIRE_INTEGRATION"
SERVER_FIXTURES = frozenset(
    {"postgres_server", "postgres_url", "rabbitmq_server", "rabbitmq_url", "rabbitmq_cluster"}
)
SUCCESS = frozenset({pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED})

Server = TypeVar("Server", PostgresServer, RabbitMQServer, LocalRabbitMQCluster)


def integration_required() -> bool:
    """Whether missing servers are an error (CI) rather than a reason to skip (laptop)."""
    return os.environ.get(REQUIRE_VARIABLE) == "1"


class IntegrationGate:
    """Fails a session that was required to run integration tests but skipped them."""

    def __init__(self) -> None:
        self.skipped: dict[str, str] = {}
        self.ran = 0
        self.verdict: str | None = None

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if "integration" not in report.keywords or hasattr(report, "wasxfail"):
            return
        if report.skipped:
            self.skipped[report.nodeid] = _skip_reason(report)
        elif report.when == "call":
            self.ran += 1

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED
        if session.config.option.collectonly or interrupted:
            return
        if self.skipped:
            lines = "\n".join(f"  {nodeid}: {reason}" for nodeid, reason in self.skipped.items())
            self.verdict = (
                f"{REQUIRE_VARIABLE}=1 but {len(self.skipped)} integration test(s) "
                f"were skipped:\n{lines}"
            )
        elif self.ran == 0:
            self.verdict = f"{REQUIRE_VARIABLE}=1 but no integration test ran"
        # Only turn success into failure: a usage or internal error keeps its own code.
        if self.verdict is not None and session.exitstatus in SUCCESS:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.verdict is not None:
            terminalreporter.section("integration tests required", sep="=", red=True, bold=True)
            terminalreporter.line(self.verdict, red=True)


def _skip_reason(report: pytest.TestReport) -> str:
    # A skip's longrepr is (path, line, "Skipped: reason").
    if isinstance(report.longrepr, tuple):
        return report.longrepr[2].removeprefix("Skipped: ")
    return str(report.longrepr)


def pytest_configure(config: pytest.Config) -> None:
    if integration_required():
        config.pluginmanager.register(IntegrationGate(), "residuo-integration-gate")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def _serve(provide: Callable[[], Server]) -> Iterator[Server]:
    server = _provide_or_skip(provide)
    try:
        yield server
    finally:
        server.close()


def _provide_or_skip(provide: Callable[[], Server]) -> Server:
    try:
        return provide()
    except ServerUnavailableError as error:
        reason = str(error)
    if integration_required():
        pytest.fail(
            f"{reason}\n({REQUIRE_VARIABLE}=1: integration tests may not skip)", pytrace=False
        )
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server; see `servers` for where it comes from."""
    yield from _serve(provide_postgres)


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[RabbitMQServer]:
    """The session's RabbitMQ broker; `stop()`, `start()`, `restart()` keep its data."""
    yield from _serve(provide_rabbitmq)


@pytest.fixture(autouse=True)
def _broker_running_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that stopped the broker and failed before starting it again must not
    take every later test down with it."""
    if "rabbitmq_server" not in request.fixturenames:
        yield
        return
    server: RabbitMQServer = request.getfixturevalue("rabbitmq_server")
    yield
    server.start()


@pytest.fixture(scope="session")
def rabbitmq_cluster() -> Iterator[LocalRabbitMQCluster]:
    """Three clustered RabbitMQ nodes from the local binaries, started when first asked
    for; a test may stop a node (`nodes[i].stop()`, `.start()`)."""
    yield from _serve(provide_rabbitmq_cluster)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL (`postgresql+psycopg://…`) of an empty database of this test's own."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def rabbitmq_url(rabbitmq_server: RabbitMQServer) -> str:
    """`amqp://` URL of a vhost of this test's own, so queue names never collide.

    Vhosts are made in batches and left behind (the broker dies with the session).
    A broker given by `RESIDUO_TEST_RABBITMQ_URL` cannot make vhosts: there every
    test shares that URL's vhost.
    """
    return rabbitmq_server.fresh_vhost_url()


@pytest.fixture(scope="session")
def amqp_publish() -> str:
    """``amqp-publish`` (Debian's amqp-tools): publishes as an integrator would, with
    no code of ours. Missing, it skips the test on a laptop and fails it in CI."""
    path = shutil.which("amqp-publish")
    if path is None:
        reason = "amqp-publish not found: apt-get install amqp-tools"
        if integration_required():
            pytest.fail(f"{reason}\n({REQUIRE_VARIABLE}=1: integration tests may not skip)")
        pytest.skip(reason)
    return path
