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
"""

import platform
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Final

import structlog
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Info,
    start_http_server,
)

__all__ = ["DEFAULT_METRICS_HOST", "process_registry", "serving_metrics"]

DEFAULT_METRICS_HOST: Final = "0.0.0.0"

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
