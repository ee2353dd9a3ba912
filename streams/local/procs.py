"""Child processes of the embedded stack (demo, tests): logs to a file, waits on what they print.

The waits here block; async callers run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

__all__ = ["CRASH_LINE", "PORTS", "Child", "Ports", "crash_lines", "free_port", "share"]


# Listening ports come from below the kernel's ephemeral range: a port the kernel picks (bind to 0)
# and hands to a child can meanwhile become the local port of an outgoing connection (a client of
# the broker), and the child then fails to bind. Each pytest-xdist process takes a slice of its own
# and no process hands a port out twice, so two children never get the same port either.
PORTS = range(10_000, 32_768)  # Linux's ephemeral range starts at 32768 (macOS's at 49152)

# A crash inside a process that goes on running: a Faust agent's (mode logs "Crashed reason=…") or
# a task of flexbridge's supervisor (streams/runtime/supervise.py: "task NAME died"); JSON or text
CRASH_LINE = re.compile(r"\]: Crashed reason=|\btask \S+ died")


@functools.cache
def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return PORTS.stop


def share(ports: range, env: Mapping[str, str]) -> range:
    """This process's share of ``ports``: one of equal parts per pytest-xdist process (``gwN``)."""
    worker, count = env.get("PYTEST_XDIST_WORKER", ""), env.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker[:2] == "gw" and worker[2:].isdigit() and count.isdigit() and int(count) > 0):
        return ports
    size = len(ports) // int(count)
    start = int(worker[2:]) % int(count) * size
    return ports[start : start + size]


class Ports:
    """Hands out each port of ``ports`` at most once, in turn from a random start, skipping those
    something listens on."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = ports
        self._next = secrets.randbelow(len(ports))
        self._left = len(ports)

    def take(self) -> int:
        while self._left:
            port = self.ports[self._next]
            self._next, self._left = (self._next + 1) % len(self.ports), self._left - 1
            if _bindable(port):
                return port
        raise RuntimeError(f"no free port left of {len(self.ports)}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_ports: Ports | None = None


def free_port() -> int:
    """A loopback port nothing listens on, for a child to listen on; never the same one twice."""
    global _ports
    if _ephemeral_start() < PORTS.stop:  # an unusual ephemeral range: the kernel's choice, as before
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
            return port
    if _ports is None:
        _ports = Ports(share(PORTS, os.environ))
    return _ports.take()


def crash_lines(log_path: Path, label: str | None = None) -> list[str]:
    """The lines of a process's log telling of an agent or a task that crashed inside it, each cut
    to 300 characters after ``label`` (default: the log's file name), as reports show them."""
    label = label or log_path.name
    text = log_path.read_text(errors="replace")
    return [f"{label}: {line[:300]}" for line in text.splitlines() if CRASH_LINE.search(line)]


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

    def crash_lines(self) -> list[str]:
        """:func:`crash_lines` of its log."""
        return crash_lines(self.log_path)

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
