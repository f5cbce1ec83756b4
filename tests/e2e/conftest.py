"""The stack every end-to-end test of residuo's processes runs on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.stack import Stack

from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade


@pytest.fixture
def stack(postgres_url: str, rabbitmq_url: str, tmp_path: Path) -> Iterator[Stack]:
    engine = create_database_engine(postgres_url)
    upgrade(engine)
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("RESIDUO_")
    }
    environment |= {
        "RESIDUO_DATABASE_URL": postgres_url,
        "RESIDUO_BROKER_URL": rabbitmq_url,
        "RESIDUO_LOG_LEVEL": "INFO",
        "RESIDUO_LOG_FORMAT": "json",
        "RESIDUO_RELAY_POLL_INTERVAL_MS": "100",
        "COLUMNS": "200",
    }
    yield Stack(engine, rabbitmq_url, environment, tmp_path)
    engine.dispose()
