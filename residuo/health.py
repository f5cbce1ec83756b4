"""Is a residuo process doing its job? Read its ``residuo_process_ready`` gauge.

``python -m residuo.health --metrics-url http://127.0.0.1:9465/metrics`` exits 0
when the process serving that endpoint says it is ready, 1 otherwise (not ready,
no such gauge, nothing answering), with one line on stderr saying which. It is the
compose stack's healthcheck: it imports only the standard library and
prometheus_client's parser, where ``residuo health`` (the same check, for people)
loads the whole command line first, seconds of CPU every healthcheck interval.
"""

import argparse
import sys
import urllib.parse
import urllib.request
from typing import Final

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["DEFAULT_TIMEOUT_S", "NotReadyError", "main", "read_readiness", "shown_metrics_url"]

DEFAULT_TIMEOUT_S: Final = 5.0
# Kept apart from residuo.telemetry (which imports the process collectors) for speed.
_READY_METRIC: Final = "residuo_process_ready"


class NotReadyError(Exception):
    """The process is not ready, or did not say: the message says which."""


def read_readiness(metrics_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Return if the process at ``metrics_url`` (its ``/metrics``) says it is ready.

    Raises ``NotReadyError``: the gauge is 0, the endpoint serves no such gauge (a
    process that runs no loop, or a release without it), or nothing answered within
    ``timeout_s`` seconds.
    """
    shown = shown_metrics_url(metrics_url)
    try:
        with urllib.request.urlopen(_only_readiness(metrics_url), timeout=timeout_s) as answer:
            text = answer.read().decode("utf-8")
    except (OSError, ValueError, OverflowError) as error:
        # OverflowError: a timeout the socket cannot hold (``--timeout inf``).
        raise NotReadyError(f"no answer from {shown}: {error}") from error
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == _READY_METRIC
    ]
    if not values:
        raise NotReadyError(f"{shown} serves no {_READY_METRIC}")
    if values != [1.0]:
        raise NotReadyError(f"not ready: {_READY_METRIC} is {values[0]:g}")


def shown_metrics_url(metrics_url: str) -> str:
    """``metrics_url`` fit to print: a password in it (basic authentication through a
    proxy) masked, as every URL residuo prints (``residuo.connection_urls``, which
    this module does not import: it loads SQLAlchemy)."""
    parts = urllib.parse.urlsplit(metrics_url)
    if parts.password is None:
        return metrics_url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}:***@{host}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _only_readiness(metrics_url: str) -> str:
    """``metrics_url`` asking prometheus_client for the readiness gauge alone."""
    parts = urllib.parse.urlsplit(metrics_url)
    query = [*urllib.parse.parse_qsl(parts.query), ("name[]", _READY_METRIC)]
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(query), parts.fragment)
    )


def main(argv: list[str] | None = None) -> int:
    """The healthcheck: 0 when ready, 1 otherwise (why, on stderr)."""
    parser = argparse.ArgumentParser(prog="python -m residuo.health", description=__doc__)
    parser.add_argument("--metrics-url", required=True, help="the process's /metrics URL")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds")
    arguments = parser.parse_args(argv)
    try:
        read_readiness(arguments.metrics_url, timeout_s=arguments.timeout)
    except NotReadyError as error:
        print(f"residuo: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
