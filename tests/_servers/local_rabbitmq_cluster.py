"""A three-node RabbitMQ cluster from the local binaries, for the quorum-queue test.

Each node is a `LocalRabbitMQ` of its own (data, ports, node name), all sharing one
`epmd` and one Erlang cookie. The first starts alone; the others start together and,
blank, join it at first boot through `classic_config` peer discovery. The cluster is
checked (`rabbitmqctl cluster_status`) before it is handed out.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable

from .base import ServerUnavailableError, free_ports
from .local_rabbitmq import LocalRabbitMQ, Membership

CLUSTER_SIZE = 3


class LocalRabbitMQCluster:
    """Running nodes; `url` names them all, separated by `;` (residuo's cluster form)."""

    def __init__(self, nodes: list[LocalRabbitMQ]) -> None:
        self.nodes = nodes
        self.url = ";".join(node.url for node in nodes)

    @classmethod
    def launch(cls, size: int = CLUSTER_SIZE) -> LocalRabbitMQCluster:
        """Start ``size`` nodes and cluster them, or explain why that is impossible."""
        (epmd_port,) = free_ports(1)
        cookie = secrets.token_hex(16)
        first = LocalRabbitMQ.launch(Membership(epmd_port, cookie))
        nodes = [first]
        try:
            joining = Membership(epmd_port, cookie, joins=first.node)
            nodes += _in_parallel([lambda: LocalRabbitMQ.launch(joining)] * (size - 1))
            cluster = cls(nodes)
            cluster.require_members(size)
        except BaseException:
            # The first node runs the epmd the others use: it goes last.
            for node in reversed(nodes):
                node.close()
            raise
        return cluster

    def require_members(self, count: int) -> None:
        """Raise unless ``count`` nodes run as one cluster."""
        status = json.loads(self.nodes[0].rabbitmqctl("cluster_status", "--formatter", "json"))
        running = status.get("running_nodes", [])
        if len(running) != count:
            raise ServerUnavailableError(f"{count} nodes did not form a cluster: {running}")

    def close(self) -> None:
        """Kill every node (nothing of theirs is kept), then remove what they stored;
        the first node goes last, with the `epmd` it runs."""
        for node in self.nodes:
            node.kill()
        for node in reversed(self.nodes):
            node.close()


def _in_parallel(starts: list[Callable[[], LocalRabbitMQ]]) -> list[LocalRabbitMQ]:
    """Run each start in a thread of its own; the nodes, or the first failure raised
    (after closing the nodes that did start)."""
    started: list[LocalRabbitMQ] = []
    failures: list[BaseException] = []

    def run(start: Callable[[], LocalRabbitMQ]) -> None:
        try:
            started.append(start())
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(start,)) for start in starts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        for node in started:
            node.close()
        raise failures[0]
    return started
