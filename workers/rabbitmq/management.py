"""What AMQP cannot tell: messages held unacknowledged, from RabbitMQ's management API.

A queue's declare-ok counts only the messages ready for delivery. Those a consumer
holds unacknowledged are invisible to AMQP, and residuo's retries are exactly that:
a message waiting for its next attempt sits in the ``.DQ`` queue, unacknowledged, in
the worker that will retry it. The management plugin's HTTP API
(``GET /api/queues/<vhost>``) counts them (its figures are refreshed every
``collect_statistics_interval``, 5 s by default).

The API's URL is a setting (``RESIDUO_BROKER_MANAGEMENT_URL``); by default it is
guessed from the broker URL: the same host and credentials, port 15672, over HTTP.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_MANAGEMENT_PORT",
    "ManagementApi",
    "QueueCounts",
]

DEFAULT_MANAGEMENT_PORT: Final = 15672
_TIMEOUT_S: Final = 2
_COLUMNS: Final = "name,messages_ready,messages_unacknowledged,consumers"


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """A queue's messages ready, held unacknowledged, and its consumers."""

    ready: int
    unacknowledged: int
    consumers: int


@dataclass(frozen=True, slots=True)
class ManagementApi:
    """The management API of one vhost.

    ``url`` is the API's base (``http://host:15672/``), without credentials, so it
    may be printed; ``vhost`` the vhost residuo's queues live in.
    """

    url: str
    vhost: str
    username: str | None = None
    password: str | None = None

    @classmethod
    def for_broker(cls, broker_url: str, management_url: str | None = None) -> ManagementApi:
        """The API of ``broker_url``'s vhost: at ``management_url`` if given, else at
        the broker's host on port 15672; credentials from whichever URL has them."""
        amqp = urlsplit(broker_url.split(";", maxsplit=1)[0])
        vhost = unquote(amqp.path[1:]) if len(amqp.path) > 1 else "/"
        if management_url is None:
            management_url = f"http://{amqp.hostname or 'localhost'}:{DEFAULT_MANAGEMENT_PORT}/"
        given = urlsplit(management_url)
        username = given.username if given.username is not None else amqp.username
        password = given.password if given.password is not None else amqp.password
        netloc = given.hostname or "localhost"
        if given.port is not None:
            netloc = f"{netloc}:{given.port}"
        base = urlunsplit((given.scheme, netloc, given.path or "/", "", ""))
        return cls(
            base,
            vhost,
            None if username is None else unquote(username),
            None if password is None else unquote(password),
        )

    def queue_counts(self) -> Mapping[str, QueueCounts]:
        """Counts of every queue of the vhost, by name.

        Raises ``OSError`` (``urllib.error.URLError`` among them) when the API does not
        answer, and ``ValueError`` when it answers something else than queues.
        """
        path = f"api/queues/{quote(self.vhost, safe='')}?columns={_COLUMNS}"
        request = urllib.request.Request(self.url.rstrip("/") + "/" + path)
        if self.username is not None:
            credentials = f"{self.username}:{self.password or ''}".encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            queues = json.load(response)
        if not isinstance(queues, list):
            raise ValueError(f"the management API answered {type(queues).__name__}, not a list")
        return {
            each["name"]: QueueCounts(
                ready=int(each.get("messages_ready") or 0),
                unacknowledged=int(each.get("messages_unacknowledged") or 0),
                consumers=int(each.get("consumers") or 0),
            )
            for each in queues
        }
