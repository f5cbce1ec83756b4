"""Where the management API is, from the settings: its URL, the vhost, the credentials."""

import pytest

from workers.rabbitmq.management import ManagementApi


@pytest.mark.parametrize(
    ("broker_url", "management_url", "expected"),
    [
        (
            "amqp://guest:guest@rabbit:5672/%2F",
            None,
            ManagementApi("http://rabbit:15672/", "/", "guest", "guest"),
        ),
        (
            "amqp://app:p%40ss@rabbit-1:5672/residuo;amqp://app:p%40ss@rabbit-2:5672/residuo",
            None,
            ManagementApi("http://rabbit-1:15672/", "residuo", "app", "p@ss"),
        ),
        (
            "amqp://app:secret@rabbit:5672/residuo",
            "https://ops:other@mgmt.example:443/rabbitmq/",
            ManagementApi("https://mgmt.example:443/rabbitmq/", "residuo", "ops", "other"),
        ),
        (
            "amqp://app:secret@rabbit:5672/residuo",
            "http://mgmt.example:15672",
            ManagementApi("http://mgmt.example:15672/", "residuo", "app", "secret"),
        ),
    ],
)
def test_the_api_is_found_from_the_broker_url_unless_given(
    broker_url: str, management_url: str | None, expected: ManagementApi
) -> None:
    """Default: the first broker's host on 15672; credentials from whichever URL has
    them; the URL kept has none, so it can be printed."""
    assert ManagementApi.for_broker(broker_url, management_url) == expected


def test_an_api_that_does_not_answer_raises_os_error() -> None:
    """``residuo status`` turns this into a note, not a failure."""
    api = ManagementApi("http://127.0.0.1:9/", "/")

    with pytest.raises(OSError):
        api.queue_counts()
