"""Each process says whether it does its job (``residuo_process_ready``), not only
that it is alive: a worker, relay or scheduler that cannot use RabbitMQ still
answers on ``/metrics`` but is not ready, and ``python -m residuo.health`` (the
compose healthcheck) exits non-zero for it."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse

import pytest
from e2e.stack import DEADLINE_S, Process, Stack, free_port, scrape, wait_until

from workers.relay import relay_lease

pytestmark = pytest.mark.e2e

READY = ("residuo_process_ready", ())


def missing_vhost(broker_url: str) -> str:
    """``broker_url`` on a vhost the broker does not have: it refuses the connection."""
    parts = urllib.parse.urlsplit(broker_url)
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, "/no-such-vhost", parts.query, parts.fragment)
    )


def start(stack: Stack, verb: str, port: int, **settings: str) -> Process:
    metrics = ("--metrics-host", "127.0.0.1", "--metrics-port", str(port))
    return stack.start(verb, verb, *metrics, **settings)


def healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """The compose stack's healthcheck, run against ``port``."""
    url = f"http://127.0.0.1:{port}/metrics"
    command = [sys.executable, "-m", "residuo.health", "--metrics-url", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE_S, check=False)


def wait_until_ready(port: int, process: Process) -> None:
    wait_until(lambda: healthcheck(port).returncode == 0, "readiness", process)


def assert_not_ready(port: int, process: Process) -> None:
    """The process answers on /metrics, its gauge says 0, the healthcheck fails."""
    assert scrape(port, process)[READY] == 0
    checked = healthcheck(port)
    assert checked.returncode == 1
    assert "residuo_process_ready is 0" in checked.stderr


def test_a_worker_whose_consumers_cannot_attach_is_not_ready(stack: Stack) -> None:
    """A worker on a vhost RabbitMQ refuses keeps running and serving its metrics,
    its consumers retrying; it is not ready."""
    port = free_port()
    worker = start(stack, "worker", port, broker_url=missing_vhost(stack.broker_url))
    wait_until(
        lambda: any("connection error" in line.get("event", "") for line in worker.log_lines()),
        "a consumer's connection error",
        worker,
    )

    assert_not_ready(port, worker)
    assert worker.stop() == 0, worker.tail()


def test_a_worker_attached_to_its_queues_is_ready(stack: Stack) -> None:
    """Once its consumers are attached, the worker is ready, as ``residuo health``
    (the same check, for operators) says too."""
    port = free_port()
    worker = start(stack, "worker", port)

    wait_until_ready(port, worker)
    assert stack.consumers("residuo.events") == stack.consumers("residuo.sweeps") == 1
    told = stack.run("health", "--metrics-url", f"http://127.0.0.1:{port}/metrics")
    assert told.returncode == 0, told.stderr
    assert worker.stop() == 0, worker.tail()


def test_a_relay_is_ready_standing_by_and_not_once_active_without_a_broker(
    stack: Stack,
) -> None:
    """While another holds the lease, a relay stands by, which needs only the
    database: ready, even with a broker it cannot reach. Given the lease, it cannot
    publish: not ready."""
    port = free_port()
    with relay_lease(stack.engine):
        relay = start(stack, "relay", port, broker_url=missing_vhost(stack.broker_url))
        wait_until_ready(port, relay)
    wait_until(lambda: bool(relay.logged("relay interrupted")), "the relay to fail", relay)

    assert_not_ready(port, relay)
    assert relay.stop() == 0, relay.tail()


def test_an_active_relay_is_ready(stack: Stack) -> None:
    """A relay holding the lease with its broker connected is ready."""
    port = free_port()
    relay = start(stack, "relay", port)

    wait_until_ready(port, relay)
    assert relay.logged("relay active")
    assert relay.stop() == 0, relay.tail()


def test_a_scheduler_that_cannot_send_its_runs_is_not_ready(stack: Stack) -> None:
    """A scheduler whose first run cannot be sent is not ready, and the ticks after
    it, which only wait for that run, do not make it ready."""
    port = free_port()
    scheduler = start(
        stack,
        "scheduler",
        port,
        broker_url=missing_vhost(stack.broker_url),
        broker_publish_timeout_ms="500",
        scheduler__poll_seconds="1",
    )
    wait_until(
        lambda: len(scheduler.logged("scheduler tick failed; trying again")) >= 1,
        "a tick to fail",
        scheduler,
    )
    # A tick after the failure (it waits for the claimed run) has come and gone.
    last_tick = ("residuo_scheduler_last_tick_timestamp_seconds", ())
    wait_until(lambda: scrape(port, scheduler)[last_tick] > 0, "a tick that waits", scheduler)

    assert_not_ready(port, scheduler)
    assert scheduler.stop() == 0, scheduler.tail()


def test_a_ticking_scheduler_is_ready(stack: Stack) -> None:
    """A scheduler whose ticks succeed (here: sending the day's catch-up runs) is ready."""
    port = free_port()
    scheduler = start(stack, "scheduler", port)

    wait_until_ready(port, scheduler)
    assert scheduler.stop() == 0, scheduler.tail()
