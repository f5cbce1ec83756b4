"""The Dramatiq baselines of the pipeline benchmarks, as a worker process of their own.

``python -m benchmarks.dramatiq_baseline AMQP_URL THREADS`` runs a Dramatiq worker on
the broker residuo uses (``create_broker``: the same class, confirms and middleware)
with two actors: ``noop`` (queue ``bench.noop``) does nothing, the floor of draining
a queue with Dramatiq; ``echo`` (queue ``bench.echo``) republishes its argument to
the ``bench.echoed`` queue with publisher confirms, the floor of "a message in, a
confirmed message out". It stops on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any, Final

import pika
from dramatiq import Actor, Broker, Worker

from workers.broker import create_broker

__all__ = ["ECHOED_QUEUE", "ECHO_QUEUE", "NOOP_QUEUE", "declare"]

NOOP_QUEUE: Final = "bench.noop"
ECHO_QUEUE: Final = "bench.echo"
ECHOED_QUEUE: Final = "bench.echoed"


def declare(broker: Broker, url: str) -> tuple[Actor[[int], None], Actor[[str], None]]:
    """The two actors on ``broker``; echo publishes on a confirmed channel per thread."""
    local = threading.local()

    def channel() -> Any:
        if getattr(local, "channel", None) is None:
            connection = pika.BlockingConnection(pika.URLParameters(url))
            local.channel = connection.channel()
            local.channel.confirm_delivery()
            local.channel.queue_declare(ECHOED_QUEUE, durable=True)
        return local.channel

    def noop(number: int) -> None:
        """Nothing: the cost of Dramatiq itself."""

    def echo(body: str) -> None:
        channel().basic_publish(
            "", ECHOED_QUEUE, body.encode(), pika.BasicProperties(delivery_mode=2)
        )

    return (
        Actor(
            noop, broker=broker, actor_name="noop", queue_name=NOOP_QUEUE, priority=0, options={}
        ),
        Actor(
            echo, broker=broker, actor_name="echo", queue_name=ECHO_QUEUE, priority=0, options={}
        ),
    )


def main() -> None:
    url, threads = sys.argv[1], int(sys.argv[2])
    broker = create_broker(url)
    declare(broker, url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = Worker(broker, worker_threads=threads)
    worker.start()
    stop.wait()
    worker.stop()
    broker.close()


if __name__ == "__main__":
    main()
