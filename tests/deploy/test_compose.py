"""``docker-compose.yml`` read closely, since no Docker engine here can run it: valid
against the Compose Specification, and free of the mistakes that lose data or open
doors (no fixed broker hostname, a healthcheck the init-time database passes,
default credentials, ports on every interface, an image built five times)."""

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
PROMETHEUS = ROOT / "ops" / "prometheus" / "prometheus.yml"
RESIDUO_PROCESSES = ("worker", "relay", "scheduler", "metrics")
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    """The services, with the YAML anchors merged as Compose merges them."""
    services: dict[str, dict[str, Any]] = load(COMPOSE)["services"]
    return services


def test_the_file_is_valid_against_the_compose_specification() -> None:
    """The Compose Specification's JSON Schema, as check-jsonschema ships it (its
    version is pinned in uv.lock), accepts the file."""
    checker = Path(sys.executable).with_name("check-jsonschema")
    checked = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    """What ``restart`` keeps alive is also checked; one-shot ``migrate`` and the
    ``cli`` profile are not long-running."""
    long_running = {
        name
        for name, service in services.items()
        if service.get("restart") != "no" and not service.get("profiles")
    }

    assert long_running == {"postgres", "rabbitmq", "prometheus", *RESIDUO_PROCESSES}
    for name in long_running:
        healthcheck = services[name].get("healthcheck", {})
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"


def test_the_database_healthcheck_goes_over_tcp(services: dict[str, Any]) -> None:
    """The image's init-time server listens on its Unix socket only: a check over TCP
    cannot pass before the real server is up."""
    test = " ".join(services["postgres"]["healthcheck"]["test"])

    assert "pg_isready" in test
    assert "-h 127.0.0.1" in test


def test_each_residuo_process_is_checked_on_the_port_it_serves(services: dict[str, Any]) -> None:
    """The healthcheck asks the port the process was told to serve its metrics on."""
    for name in RESIDUO_PROCESSES:
        command = services[name]["command"]
        flag = "--port" if name == "metrics" else "--metrics-port"
        port = command[command.index(flag) + 1]
        assert f"127.0.0.1:{port}/metrics" in " ".join(services[name]["healthcheck"]["test"])


def test_the_worker_relay_and_scheduler_are_healthy_only_when_ready(
    services: dict[str, Any],
) -> None:
    """Answering on /metrics is not enough: their healthcheck is ``residuo.health``,
    which reads ``residuo_process_ready`` (attack10 #2: a worker whose consumers
    cannot attach was healthy), run as its own light module, not the CLI."""
    for name in ("worker", "relay", "scheduler"):
        test = services[name]["healthcheck"]["test"]
        command = services[name]["command"]
        port = command[command.index("--metrics-port") + 1]

        assert test == [
            "CMD",
            "python",
            "-m",
            "residuo.health",
            "--metrics-url",
            f"http://127.0.0.1:{port}/metrics",
        ]


def test_rabbitmq_keeps_its_node_name_across_recreations(services: dict[str, Any]) -> None:
    """The node's data lives under rabbit@<hostname>: a hostname of Docker's choosing
    would start an empty node on the old volume."""
    rabbitmq = services["rabbitmq"]

    assert rabbitmq["hostname"] == "rabbitmq"
    assert "rabbitmq-data:/var/lib/rabbitmq" in rabbitmq["volumes"]


def test_migrate_waits_for_the_database_for_a_bounded_time(services: dict[str, Any]) -> None:
    """``--wait SECONDS`` retries a database that still refuses, then gives up."""
    migrate = services["migrate"]
    command = migrate["command"]

    assert command[0] == "migrate"
    assert int(command[command.index("--wait") + 1]) > 0
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in RESIDUO_PROCESSES:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"


def test_one_image_is_built_once_and_reused(services: dict[str, Any]) -> None:
    """Only ``migrate`` builds; every other residuo service runs the image it tagged
    and never looks for it in a registry."""
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["migrate"]
    image = services["migrate"]["image"]
    users = [name for name, service in services.items() if service.get("image") == image]

    assert set(users) == {"migrate", "cli", *RESIDUO_PROCESSES}
    for name in users:
        if name != "migrate":
            assert services[name]["pull_policy"] == "never"


def test_published_ports_listen_on_the_loopback_interface_only(services: dict[str, Any]) -> None:
    """Nothing is published on every interface; PostgreSQL is not published at all."""
    published = {name: service.get("ports", []) for name, service in services.items()}

    assert not published["postgres"]
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_credentials_come_from_the_environment_file_with_no_default() -> None:
    """Every credential is a required ``${VAR:?…}`` (no fallback such as guest/guest),
    and .env.example names each one, leaving the passwords to fill in."""
    text = COMPOSE.read_text()
    required = set(REQUIRED.findall(text))
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )

    assert {"POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"} <= required
    assert required <= set(example)
    assert example["POSTGRES_PASSWORD"] == example["RABBITMQ_PASSWORD"] == ""
    assert not re.search(r"\$\{\w*(PASSWORD|USER)\w*:-", text), "a credential has a default"
    assert "guest" not in text
    assert "residuo:residuo" not in text


def test_secrets_stay_out_of_git_and_of_the_image() -> None:
    """.env is ignored by git and by the build context, with the repository's clutter."""
    ignored_by_git = (ROOT / ".gitignore").read_text().splitlines()
    ignored_by_docker = (ROOT / ".dockerignore").read_text().splitlines()

    assert ".env" in ignored_by_git
    assert {".env", ".git", ".venv", "tests"} <= set(ignored_by_docker)


def test_prometheus_scrapes_every_residuo_process_and_loads_the_rules(
    services: dict[str, Any],
) -> None:
    """Each process's metrics port is a scrape target; the rules are mounted beside
    the configuration that names them."""
    config = load(PROMETHEUS)
    targets = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            targets.update(static["targets"])
        for dns in job.get("dns_sd_configs", []):
            targets.update(f"{name}:{dns['port']}" for name in dns["names"])

    for name in RESIDUO_PROCESSES:
        command = services[name]["command"]
        flag = "--port" if name == "metrics" else "--metrics-port"
        assert f"{name}:{command[command.index(flag) + 1]}" in targets
    assert config["rule_files"] == ["residuo.rules.yml"]
    assert (PROMETHEUS.parent / "residuo.rules.yml").is_file()
    assert "./ops/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
