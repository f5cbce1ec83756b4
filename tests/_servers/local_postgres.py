"""A throw-away PostgreSQL cluster from the local binaries (Debian's `postgresql`).

The cluster lives in a temporary directory, listens on 127.0.0.1 on a free port
with trust authentication, and trades durability for speed (no fsync): it only
ever holds test data. It never touches a system-wide cluster or its port.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import tempfile
from pathlib import Path

from .base import (
    PostgresServer,
    ServerUnavailableError,
    as_user,
    free_ports,
    run,
    tail,
    wait_for_postgres,
)

SERVICE_USER = "postgres"
START_TIMEOUT = 60

SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def find_bin_dir() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin` that has initdb and pg_ctl."""
    candidates = sorted(
        (Path(initdb).parent for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda bin_dir: int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else 0,
    )
    for bin_dir in reversed(candidates):
        if (bin_dir / "pg_ctl").exists():
            return bin_dir
    raise ServerUnavailableError("no /usr/lib/postgresql/*/bin/initdb: apt-get install postgresql")


class LocalPostgres(PostgresServer):
    """A private cluster run by `pg_ctl`; build it with `LocalPostgres.launch()`."""

    def __init__(self, bin_dir: Path, workdir: Path, port: int) -> None:
        self._bin_dir = bin_dir
        self._workdir = workdir
        self._data_dir = workdir / "data"
        self._log = workdir / "postgres.log"
        self.url = f"postgresql+psycopg://{SERVICE_USER}@127.0.0.1:{port}/postgres"

    @classmethod
    def launch(cls) -> LocalPostgres:
        """Initialise a fresh cluster and start it, or explain why that is impossible."""
        bin_dir = find_bin_dir()
        workdir = Path(tempfile.mkdtemp(prefix="residuo-postgres-"))
        if os.geteuid() == 0:
            try:
                service = pwd.getpwnam(SERVICE_USER)
            except KeyError as error:
                shutil.rmtree(workdir)
                message = f"running as root but there is no {SERVICE_USER!r} user"
                raise ServerUnavailableError(message) from error
            os.chown(workdir, service.pw_uid, service.pw_gid)
        (port,) = free_ports(1)
        server = cls(bin_dir, workdir, port)
        try:
            server._initdb(port)
            server._pg_ctl("start", "--log", str(server._log))
            wait_for_postgres(server.url, timeout=START_TIMEOUT)
        except BaseException:
            server.close()
            raise
        return server

    def restart(self) -> None:
        self._pg_ctl("restart", "--mode=fast", "--log", str(self._log))
        wait_for_postgres(self.url, timeout=START_TIMEOUT)

    def close(self) -> None:
        if (self._data_dir / "postmaster.pid").exists():
            try:
                self._pg_ctl("stop", "--mode=fast")
            except ServerUnavailableError:
                self._pg_ctl("stop", "--mode=immediate")
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _initdb(self, port: int) -> None:
        argv = [
            str(self._bin_dir / "initdb"),
            f"--pgdata={self._data_dir}",
            f"--username={SERVICE_USER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ]
        run("initdb", as_user(SERVICE_USER, argv), cwd=self._workdir)
        settings = SETTINGS.format(port=port, socket_dir=self._workdir)
        with (self._data_dir / "postgresql.conf").open("a") as conf:
            conf.write(settings)

    def _pg_ctl(self, action: str, *options: str) -> None:
        # pg_ctl waits (polling, with its own deadline) until the action took effect.
        argv = [
            str(self._bin_dir / "pg_ctl"),
            action,
            f"--pgdata={self._data_dir}",
            "--wait",
            f"--timeout={START_TIMEOUT}",
            *options,
        ]
        try:
            run(f"pg_ctl {action}", as_user(SERVICE_USER, argv), cwd=self._workdir)
        except ServerUnavailableError as error:
            raise ServerUnavailableError(f"{error}\n--- {self._log}:\n{tail(self._log)}") from error
