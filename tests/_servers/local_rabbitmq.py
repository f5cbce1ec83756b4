"""A private RabbitMQ node from the local binaries (Debian's `rabbitmq-server`).

Everything the node needs lives in a temporary directory: its data (mnesia), logs,
config, its plugin list (the management plugin, on a port of its own) and an Erlang
cookie found through `HOME`. It has its
own node name, AMQP port, distribution port and even its own `epmd`, all on
127.0.0.1, so it neither needs nor disturbs a system-wide broker, and nothing of it
outlives `close()`. It runs as the current user (root included): the cookie is
private, so there is no reason to borrow the `rabbitmq` account.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .base import (
    RabbitMQServer,
    ServerUnavailableError,
    VhostPool,
    free_ports,
    run,
    tail,
    wait_for,
    wait_for_rabbitmq,
)

SBIN_CANDIDATES = (Path("/usr/lib/rabbitmq/bin"), Path("/usr/sbin"))
"""Where Debian puts the scripts; the first is preferred because /usr/sbin/rabbitmqctl
is a wrapper that switches to the `rabbitmq` user, and with it to another cookie."""

START_TIMEOUT = 60
STOP_TIMEOUT = 60


def find_sbin() -> Path:
    """The directory holding rabbitmq-server and rabbitmqctl."""
    for sbin in SBIN_CANDIDATES:
        if (sbin / "rabbitmq-server").exists() and (sbin / "rabbitmqctl").exists():
            return sbin
    raise ServerUnavailableError("no rabbitmq-server binary: apt-get install rabbitmq-server")


def find_epmd() -> Path:
    """Erlang's port mapper daemon, which the node registers its name with."""
    found = shutil.which("epmd") or next(
        (str(path) for path in Path("/usr/lib/erlang").glob("erts-*/bin/epmd")), None
    )
    if found is None:
        raise ServerUnavailableError("no epmd binary (Erlang) next to rabbitmq-server")
    return Path(found)


@dataclass(frozen=True)
class Membership:
    """A node's place in a cluster: the `epmd` port and Erlang cookie every member
    shares, and the running node it joins at its first boot (None: it is the first
    member, which runs the `epmd` the others register with)."""

    epmd_port: int
    cookie: str
    joins: str | None = None


class LocalRabbitMQ(RabbitMQServer):
    """A private broker node; build it with `LocalRabbitMQ.launch()`, or as a member of
    a cluster (`local_rabbitmq_cluster`)."""

    def __init__(
        self, sbin: Path, epmd: Path, workdir: Path, membership: Membership | None = None
    ) -> None:
        self._sbin = sbin
        self._epmd_binary = epmd
        self._workdir = workdir
        self._membership = membership
        amqp_port, dist_port, epmd_port, self._management_port = free_ports(4)
        if membership is not None:
            epmd_port = membership.epmd_port
        self.node = f"residuo-test-{amqp_port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{amqp_port}/%2F"
        self.management_url = f"http://guest:guest@127.0.0.1:{self._management_port}/"
        self._env = self._environment(amqp_port, dist_port, epmd_port)
        self._epmd_port = epmd_port
        self._epmd: subprocess.Popen[bytes] | None = None
        self._broker: subprocess.Popen[bytes] | None = None
        self._vhosts = VhostPool(self, self._import_definitions)

    @classmethod
    def launch(cls, membership: Membership | None = None) -> LocalRabbitMQ:
        """Start a fresh node, or explain why that is impossible."""
        sbin, epmd = find_sbin(), find_epmd()
        server = cls(sbin, epmd, Path(tempfile.mkdtemp(prefix="residuo-rabbitmq-")), membership)
        try:
            server._write_files()
            if membership is None or membership.joins is None:
                server._start_epmd()
            server.start()
        except BaseException:
            server.close()
            raise
        return server

    def fresh_vhost_url(self) -> str:
        return self._vhosts.take()

    def start(self) -> None:
        if self._broker is not None and self._broker.poll() is None:
            return
        with (self._workdir / "stdout.log").open("ab") as stdout:
            self._broker = subprocess.Popen(
                [str(self._sbin / "rabbitmq-server")],
                cwd=self._workdir,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                # Its own process group, so that stopping it reaches beam and its helpers.
                start_new_session=True,
            )
        wait_for_rabbitmq(self.url, timeout=START_TIMEOUT, alive=self._check_alive)

    def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            # The start script turns SIGTERM into a clean broker shutdown.
            _terminate_group(broker, STOP_TIMEOUT)

    def kill(self) -> None:
        """SIGKILL the node at once, as a crash would (its data stays for `start()`)."""
        broker, self._broker = self._broker, None
        if broker is not None:
            _terminate_group(broker, 0)

    def close(self) -> None:
        self.stop()
        epmd, self._epmd = self._epmd, None
        if epmd is not None:
            _terminate_group(epmd, 10)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def rabbitmqctl(self, *arguments: str) -> str:
        """Run ``rabbitmqctl --node <this node> …`` and return its output."""
        argv = [str(self._sbin / "rabbitmqctl"), "--node", self.node, *arguments]
        return run(f"rabbitmqctl {arguments[0]}", argv, cwd=self._workdir, env=self._env)

    def _import_definitions(self, definitions: str) -> None:
        path = self._workdir / f"definitions-{secrets.token_hex(4)}.json"
        path.write_text(definitions)
        self.rabbitmqctl("import_definitions", str(path))

    def _environment(self, amqp_port: int, dist_port: int, epmd_port: int) -> dict[str, str]:
        # Inherited RABBITMQ_* or ERL_* settings would point the node elsewhere.
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("RABBITMQ_", "ERL_"))
        }
        workdir = self._workdir
        no_own_epmd = "-start_epmd false"
        return inherited | {
            "HOME": str(workdir),
            "LC_ALL": "C.UTF-8",
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp_port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(workdir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(workdir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(workdir / "log"),
            "RABBITMQ_PID_FILE": str(workdir / "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
                f"{no_own_epmd} -kernel inet_dist_use_interface {{127,0,0,1}}"
            ),
            "RABBITMQ_CTL_ERL_ARGS": no_own_epmd,
        }

    def _write_files(self) -> None:
        workdir, membership = self._workdir, self._membership
        (workdir / "rabbitmq-env.conf").write_text("")
        # The management API answers `residuo status`'s unacknowledged counts; its
        # figures are refreshed every second here rather than every five.
        config = (
            "log.console = false\n"
            "collect_statistics_interval = 1000\n"
            "management.tcp.ip = 127.0.0.1\n"
            f"management.tcp.port = {self._management_port}\n"
        )
        if membership is not None and membership.joins is not None:
            # A blank node discovers its peers at first boot and joins their cluster.
            config += (
                "cluster_formation.peer_discovery_backend = classic_config\n"
                f"cluster_formation.classic_config.nodes.1 = {membership.joins}\n"
            )
        (workdir / "rabbitmq.conf").write_text(config)
        (workdir / "advanced.config").write_text("[].\n")
        (workdir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        cookie = workdir / ".erlang.cookie"
        cookie.write_text(membership.cookie if membership is not None else secrets.token_hex(16))
        cookie.chmod(0o400)

    def _start_epmd(self) -> None:
        self._epmd = subprocess.Popen(
            [str(self._epmd_binary), "-port", str(self._epmd_port)],
            cwd=self._workdir,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(
            "epmd",
            lambda: run(
                "epmd -names", [str(self._epmd_binary), "-names"], cwd=self._workdir, env=self._env
            ),
            timeout=10,
            retry_on=(ServerUnavailableError,),
        )

    def _check_alive(self) -> None:
        broker = self._broker
        if broker is not None and broker.poll() is not None:
            # The temporary directory is gone by the time anyone reads the report.
            stdout, log = self._workdir / "stdout.log", self._workdir / "log" / f"{self.node}.log"
            raise ServerUnavailableError(
                f"rabbitmq-server exited with {broker.returncode} while starting\n"
                f"--- {stdout.name}:\n{tail(stdout, 15)}\n--- {log.name}:\n{tail(log, 15)}"
            )


def _terminate_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM a process, give it `timeout` seconds to exit, then SIGKILL what is left
    of its process group (at once if `timeout` is 0)."""
    if process.poll() is None and timeout > 0:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    # Even after a clean stop, helpers (erl_child_setup, inet_gethost) may linger.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
