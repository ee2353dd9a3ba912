"""A fixture that starts real Prometheus servers and stops them after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.deploy.prometheus import Prometheus


@pytest.fixture
def prometheus(tmp_path: Path, log_dir: Path) -> Iterator[Callable[[list[str]], Prometheus]]:
    started: list[Prometheus] = []

    def start(targets: list[str]) -> Prometheus:
        server = Prometheus(tmp_path / f"prometheus-{len(started)}", targets, log_dir)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
