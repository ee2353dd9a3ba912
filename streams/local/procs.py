"""Child processes of the embedded stack (demo, tests): logs to a file, waits on what they print.

The waits here block; async callers run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

__all__ = ["Child", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Child:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(  # our own argv, no shell  # noqa: S603
                args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _failed(self, what: str) -> RuntimeError:
        return RuntimeError(f"{self.name} {what}; last log lines:\n{self.output()[-3000:]}")

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise self._failed(f"exited with code {self.proc.returncode}")

    def wait_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of ``pattern`` (multi-line) in the output; fails if the child exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output(), re.M)
            if match:
                return match
            self._check_alive()
            time.sleep(0.05)
        raise self._failed(f"did not print {pattern!r} within {timeout:.0f} s")

    def wait_ready(self, url: str, timeout: float) -> None:
        """Until ``url`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise self._failed(f"was not ready within {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, nothing flushed or committed."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode
