"""The integration fixtures hand out real, working, isolated servers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pika
import pika.exceptions
import pytest
import sqlalchemy
from pika.adapters.blocking_connection import BlockingChannel
from servers import PostgresServer, RabbitMQServer

PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)


@contextmanager
def amqp_channel(url: str) -> Iterator[BlockingChannel]:
    """A channel with publisher confirms, closed with its connection afterwards."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        yield channel
    finally:
        connection.close()


def test_postgres_url_is_an_empty_database_of_its_own(postgres_url: str) -> None:
    """A test gets a database that answers queries and holds no tables yet."""
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(sqlalchemy.text("SELECT 1")).scalar_one() == 1
            assert sqlalchemy.inspect(connection).get_table_names() == []
            database = connection.execute(sqlalchemy.text("SELECT current_database()"))
            assert database.scalar_one() != "postgres"
    finally:
        engine.dispose()


def test_postgres_survives_a_restart(postgres_server: PostgresServer, postgres_url: str) -> None:
    """Committed rows are still there after the server restarts on the same URL."""
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("CREATE TABLE kept (id integer PRIMARY KEY)"))
            connection.execute(sqlalchemy.text("INSERT INTO kept VALUES (7)"))
        engine.dispose()

        postgres_server.restart()

        with engine.connect() as connection:
            assert connection.execute(sqlalchemy.text("SELECT id FROM kept")).scalar_one() == 7
    finally:
        engine.dispose()


def test_rabbitmq_round_trips_a_confirmed_message(rabbitmq_url: str) -> None:
    """A message published with confirms to a durable queue can be consumed back."""
    with amqp_channel(rabbitmq_url) as channel:
        channel.queue_declare("smoke", durable=True)
        channel.basic_publish("", "smoke", b"hello", PERSISTENT, mandatory=True)

        method, _properties, body = next(channel.consume("smoke", inactivity_timeout=10))
        assert method is not None, "no message within 10 s"
        channel.basic_ack(method.delivery_tag)
        channel.cancel()

    assert body == b"hello"


def test_rabbitmq_url_is_a_vhost_of_its_own(rabbitmq_server: RabbitMQServer) -> None:
    """Two tests' vhosts do not see each other's queues."""
    first, second = rabbitmq_server.fresh_vhost_url(), rabbitmq_server.fresh_vhost_url()
    if first == second:
        pytest.skip("this broker cannot make vhosts (given by RESIDUO_TEST_RABBITMQ_URL)")
    with amqp_channel(first) as channel:
        channel.queue_declare("only-here", durable=True)
    with amqp_channel(second) as channel:
        try:
            channel.queue_declare("only-here", passive=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            assert error.reply_code == 404
        else:
            raise AssertionError("the queue leaked into another vhost")


def test_persistent_message_survives_a_broker_restart(
    rabbitmq_server: RabbitMQServer, rabbitmq_url: str
) -> None:
    """A persistent message in a durable queue is still there after a restart."""
    with amqp_channel(rabbitmq_url) as channel:
        channel.queue_declare("kept", durable=True)
        channel.basic_publish("", "kept", b"still here", PERSISTENT, mandatory=True)

    rabbitmq_server.restart()

    with amqp_channel(rabbitmq_url) as channel:
        method, _properties, body = channel.basic_get("kept", auto_ack=True)

    assert method is not None, "the message was lost"
    assert body == b"still here"
