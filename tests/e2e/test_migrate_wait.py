"""``residuo migrate --wait SECONDS``: the stack's first step waits, bounded, for a
database that is still starting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from _servers.base import libpq_url
from psycopg import sql
from servers import PostgresServer
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.e2e

RESIDUO = Path(sys.executable).with_name("residuo")
DEADLINE_S = 90


def migrate(database_url: str, *arguments: str) -> subprocess.Popen[str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("RESIDUO_")
    }
    environment["RESIDUO_DATABASE_URL"] = database_url
    return subprocess.Popen(
        [str(RESIDUO), "migrate", *arguments],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def maintenance(server: PostgresServer, statement: sql.Composed) -> None:
    with psycopg.connect(libpq_url(server.url), autocommit=True) as connection:
        connection.execute(statement)


def test_migrate_waits_for_a_database_that_appears_later(postgres_server: PostgresServer) -> None:
    """The database does not exist yet (a server still initialising refuses it): migrate
    says it will retry, and once the database is there it migrates and exits 0."""
    name = f"residuo_wait_{uuid4().hex[:12]}"
    url = make_url(postgres_server.url).set(database=name).render_as_string(hide_password=False)
    process = migrate(url, "--wait", str(DEADLINE_S))
    assert process.stderr is not None
    try:
        retrying = process.stderr.readline()
        maintenance(postgres_server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        stdout, stderr = process.communicate(timeout=DEADLINE_S)
        assert process.returncode == 0, retrying + stderr
        assert "not reachable yet" in retrying
        assert "retrying in" in retrying
        assert "schema at revision" in stdout
    finally:
        if process.poll() is None:
            process.kill()
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        maintenance(postgres_server, statement.format(sql.Identifier(name)))


def test_migrate_gives_up_once_the_wait_is_over(postgres_server: PostgresServer) -> None:
    """A database that never comes: retried for the time given, then the usual one-line
    error and exit status 1."""
    url = make_url(postgres_server.url).set(database=f"residuo_never_{uuid4().hex[:12]}")
    process = migrate(url.render_as_string(hide_password=False), "--wait", "2")
    stdout, stderr = process.communicate(timeout=DEADLINE_S)

    assert process.returncode == 1, stdout + stderr
    assert "not reachable yet" in stderr
    assert stderr.strip().splitlines()[-1].startswith("residuo: error: cannot use the database")


def test_without_wait_migrate_tries_once(postgres_server: PostgresServer) -> None:
    """The default is one attempt: no retry line, the error at once."""
    url = make_url(postgres_server.url).set(database=f"residuo_never_{uuid4().hex[:12]}")
    process = migrate(url.render_as_string(hide_password=False))
    _, stderr = process.communicate(timeout=DEADLINE_S)

    assert process.returncode == 1
    assert "not reachable yet" not in stderr
    assert stderr.startswith("residuo: error: cannot use the database")


def test_migrate_wait_gives_up_at_once_on_a_role_that_may_not_log_in(
    postgres_server: PostgresServer,
) -> None:
    """A role that exists but may not log in (``NOLOGIN``) is refused for good, like a
    wrong password: one line saying so, exit status 1, no retry for the wait's length."""
    role = f"residuo_nologin_{uuid4().hex[:8]}"
    maintenance(postgres_server, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    try:
        url = make_url(postgres_server.url).set(username=role, password="secret-pw")
        process = migrate(url.render_as_string(hide_password=False), "--wait", str(DEADLINE_S))
        _, stderr = process.communicate(timeout=DEADLINE_S)
    finally:
        maintenance(postgres_server, sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

    assert process.returncode == 1, stderr
    assert "retrying" not in stderr
    (line,) = stderr.strip().splitlines()
    assert line.startswith("residuo: error: cannot use the database")
    assert "is not permitted to log in" in line
    assert "--wait does not retry them" in line
    assert "secret-pw" not in line
