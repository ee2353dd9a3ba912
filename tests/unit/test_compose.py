"""docker-compose.yml is valid for Debian's docker-compose and wires the stack as documented."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from core.config import env_name
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rendered() -> str:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed (make test installs it: tests/system-packages.sh)")
    done = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _service(rendered: str, name: str) -> str:
    """The block of one service in the rendered (normalised, sorted) YAML."""
    match = re.search(rf"^  {re.escape(name)}:\n((?:    .*\n|\n)*)", rendered, re.M)
    assert match, f"service {name} missing"
    return match.group(1)


def test_the_stack_has_kafka_in_kraft_mode_sftp_the_sandbox_and_two_workers(rendered: str) -> None:
    kafka = _service(rendered, "kafka")
    assert "apache/kafka" in kafka and "KAFKA_PROCESS_ROLES: broker,controller" in kafka
    assert "ZOOKEEPER" not in rendered.upper()
    assert "healthcheck" in kafka and "healthcheck" in _service(rendered, "sandbox")
    assert "atmoz/sftp" in _service(rendered, "sftp")
    for name in ("worker-1", "worker-2"):
        worker = _service(rendered, name)
        assert re.search(r"kafka:\n\s+condition: service_healthy", worker), worker
        assert re.search(r"sandbox:\n\s+condition: service_healthy", worker), worker
        assert "/ready" in worker  # health check = joined the group and Flex token in hand


def test_workers_are_configured_only_through_known_flexbridge_settings(rendered: str) -> None:
    worker = _service(rendered, "worker-1")
    names = set(re.findall(r"\b(FLEXBRIDGE_[A-Z_]+):", worker))
    assert {
        "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS",
        "FLEXBRIDGE_FLEX__BASE_URL",
        "FLEXBRIDGE_FLEX__APP_KEY",
    } <= names
    known = {env_name((group, field)) for group, model in Settings.model_fields.items()
             for field in getattr(model.annotation, "model_fields", {})}  # fmt: skip
    known |= {env_name((name,)) for name in Settings.model_fields}  # top level: FLEXBRIDGE_MERCHANTS_FILE
    assert names <= known, names - known
    assert "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS: kafka:9092" in worker
    assert "FLEXBRIDGE_FLEX__BASE_URL: http://sandbox:8080/v1/" in worker


def test_the_image_copies_every_package_the_project_installs() -> None:
    """`pip install .` in the Dockerfile builds what pyproject's package list names: each must be copied."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    assert packages <= copied, packages - copied


def _mounts(service: str) -> dict[str, Path]:
    """Container path → host path of a service's bind mounts."""
    return {
        inside: Path(host)
        for host, inside in re.findall(r"^    - (/[^:\n]+):(/[^:\n]+)(?::ro)?$", service, re.M)
    }


def test_prometheus_and_grafana_are_provisioned_with_the_shipped_files(rendered: str) -> None:
    prometheus = _mounts(_service(rendered, "prometheus"))
    assert prometheus["/etc/prometheus/prometheus.yml"] == ROOT / "deploy" / "prometheus" / "prometheus.yml"
    assert prometheus["/etc/prometheus/alerts.yml"] == ROOT / "deploy" / "prometheus" / "alerts.yml"
    grafana = _mounts(_service(rendered, "grafana"))
    assert grafana["/etc/grafana/provisioning"] == ROOT / "deploy" / "grafana" / "provisioning"
    assert (
        grafana["/var/lib/grafana/dashboards/flexbridge.json"]
        == ROOT / "deploy" / "grafana" / "flexbridge.json"
    )
    assert all(path.exists() for path in (*prometheus.values(), *grafana.values()))
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    assert "url: http://prometheus:9090" in (provisioning / "datasources" / "prometheus.yml").read_text()
    assert "path: /var/lib/grafana/dashboards" in (provisioning / "dashboards" / "flexbridge.yml").read_text()
    config = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    assert "job_name: flexbridge" in config and "- alerts.yml" in config
    for worker in ("worker-1", "worker-2"):  # each compose worker is scraped on its web port
        assert worker in rendered and f'"{worker}:6066"' in config
