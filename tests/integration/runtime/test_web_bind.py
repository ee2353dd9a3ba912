"""``FLEXBRIDGE_WEB__HOST`` is the interface the worker's web server listens on: with ``127.0.0.1``
its health, metrics and order views are reachable from this machine only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.flows import ready

pytestmark = pytest.mark.integration


def listening_on(port: int) -> set[str]:
    """The local addresses (hex, as the kernel lists them) of the IPv4 and IPv6 sockets listening
    on ``port``."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            _, local, _, state = line.split()[:4]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


async def test_a_worker_on_127_0_0_1_listens_on_the_loopback_interface_only(stack: Stack) -> None:
    worker = stack.worker(FLEXBRIDGE_WEB__HOST="127.0.0.1")
    await ready(worker)  # /ready answers on 127.0.0.1
    assert listening_on(worker.port) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0 (00000000) nor ::
