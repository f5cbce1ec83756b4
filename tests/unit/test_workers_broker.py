"""The broker is a setting: in memory, or RabbitMQ with publisher confirms."""

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries

from workers.broker import create_broker
from workers.middleware import BindLogContext


def test_memory_is_the_in_process_broker_with_the_callers_middleware_last() -> None:
    """``memory`` needs no server; extra middleware comes after the plain stack."""
    extra = BindLogContext()

    broker = create_broker("memory", middleware=[extra])

    assert isinstance(broker, StubBroker)
    assert broker.middleware[-1] is extra
    assert any(isinstance(each, Retries) for each in broker.middleware)


def test_an_amqp_url_is_rabbitmq_with_confirms_and_no_connection_yet() -> None:
    """Building the broker opens nothing: a worker can start before RabbitMQ is up."""
    broker = create_broker("amqp://guest:guest@127.0.0.1:1/")

    assert isinstance(broker, RabbitmqBroker)
    assert broker.confirm_delivery is True
    assert broker.connections == set()


def test_any_other_url_is_refused() -> None:
    """A typo in the setting fails at start-up, not at the first message."""
    with pytest.raises(ValueError, match="unsupported broker URL"):
        create_broker("redis://localhost")
