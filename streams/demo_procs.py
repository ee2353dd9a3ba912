"""Child processes of the demo: started with logs in the work dir, always stopped at the end."""

from __future__ import annotations

import asyncio
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
    def __init__(self, name: str, args: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}
            )

    def _failed(self, what: str) -> RuntimeError:
        tail = self.log_path.read_text(errors="replace")[-2000:]
        return RuntimeError(f"{self.name} {what}; last log lines:\n{tail}")

    async def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log_path.read_text(errors="replace"), re.M)
            if match:
                return match
            if self.proc.poll() is not None:
                raise self._failed(f"exited with code {self.proc.returncode}")
            await asyncio.sleep(0.05)
        raise self._failed(f"did not print {pattern!r} within {timeout:.0f} s")

    async def wait_ready(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise self._failed(f"exited with code {self.proc.returncode}")
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise self._failed(f"was not ready within {timeout:.0f} s")

    async def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        await asyncio.to_thread(self.proc.wait)
