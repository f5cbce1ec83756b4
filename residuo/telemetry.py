"""The Prometheus registry of one residuo process, and serving it over HTTP.

Every process (worker, relay, scheduler, ``residuo metrics``) has a registry of its
own, made by the bootstrap, with the process collectors (CPU, memory, open file
descriptors, start time), the platform and garbage-collector collectors, and
``residuo_build_info``. Each serves it on a port of its own (``--metrics-port``):
a residuo process is one Python process whose threads share the registry, so
prometheus_client's multiprocess mode, with its shared directory to wipe at start
and its per-process files of dead processes, is not needed. Scaling out means more
processes, each scraped on its own (``ops/prometheus/prometheus.yml`` finds every
replica of a service by DNS).

``Readiness`` is ``residuo_process_ready``: 1 while the process does its job (the
worker's consumers attached, the relay publishing or standing by, the scheduler
ticking), which ``residuo.health`` reads for a container's healthcheck.
"""

import platform
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Final

import structlog
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Gauge,
    Info,
    start_http_server,
)

__all__ = [
    "DEFAULT_METRICS_HOST",
    "READY_METRIC",
    "Readiness",
    "process_registry",
    "serving_metrics",
]

DEFAULT_METRICS_HOST: Final = "0.0.0.0"
READY_METRIC: Final = "residuo_process_ready"

_logger = structlog.get_logger(__name__)


def process_registry() -> CollectorRegistry:
    """A registry with this process's collectors and ``residuo_build_info``."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    Info("residuo_build", "The residuo release this process runs.", registry=registry).info(
        {
            "version": version("residuo"),
            "dramatiq": version("dramatiq"),
            "python": platform.python_version(),
        }
    )
    return registry


class Readiness:
    """``residuo_process_ready`` on ``registry``: 1 while every check passes, else 0.

    Each loop the process runs (``run_worker``, ``run_relay``, ``run_scheduler``)
    requires its check; the gauge is read at each scrape. It is registered with the
    first check, so a process that runs no loop (``residuo metrics``) serves no
    gauge rather than a 0 that would read as a fault.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._checks: list[Callable[[], bool]] = []
        # A test runs a worker and a relay on one runtime, from two threads.
        self._lock = threading.Lock()

    def require(self, check: Callable[[], bool]) -> None:
        """Count this process ready only while ``check()`` is true as well."""
        with self._lock:
            if not self._checks:
                Gauge(
                    READY_METRIC,
                    "1 while this process does its job (consumers attached, relay "
                    "connected, scheduler ticking), else 0.",
                    registry=self._registry,
                ).set_function(lambda: float(self.ready()))
            self._checks.append(check)

    def ready(self) -> bool:
        """Whether the process has checks and each passes now."""
        with self._lock:
            checks = list(self._checks)
        return bool(checks) and all(check() for check in checks)


@contextmanager
def serving_metrics(registry: CollectorRegistry, *, host: str, port: int) -> Iterator[str]:
    """Serve ``registry`` on http://host:port/metrics inside the block; its URL.

    Raises ``OSError`` if the port cannot be bound (taken, privileged).
    """
    server, thread = start_http_server(port, host, registry)
    url = f"http://{host}:{server.server_port}/metrics"
    _logger.info("serving metrics", url=url)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
