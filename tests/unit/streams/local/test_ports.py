"""The local stack's listening ports (streams/local/procs.py): below the ephemeral range, one slice
per pytest-xdist process, never the same one twice, never one something listens on."""

from __future__ import annotations

import socket

import pytest

from streams.local import procs
from streams.local.procs import PORTS, Ports, free_port, share


def test_each_xdist_process_has_a_slice_of_its_own() -> None:
    first = share(PORTS, {"PYTEST_XDIST_WORKER": "gw0", "PYTEST_XDIST_WORKER_COUNT": "2"})
    second = share(PORTS, {"PYTEST_XDIST_WORKER": "gw1", "PYTEST_XDIST_WORKER_COUNT": "2"})
    assert len(first) == len(second) == len(PORTS) // 2
    assert not set(first) & set(second)
    assert set(first) | set(second) <= set(PORTS)


@pytest.mark.parametrize(
    "env",
    [{}, {"PYTEST_XDIST_WORKER": "master"}, {"PYTEST_XDIST_WORKER": "gw1", "PYTEST_XDIST_WORKER_COUNT": "x"}],
)
def test_outside_xdist_the_whole_range(env: dict[str, str]) -> None:
    assert share(PORTS, env) == PORTS


def test_a_port_is_handed_out_once_and_skipped_while_something_listens() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            free = other.getsockname()[1]
        source = Ports([listening.getsockname()[1], free])
        assert source.take() == free
        with pytest.raises(RuntimeError, match="no free port left of 2"):
            source.take()


def test_free_ports_are_distinct_and_below_the_ephemeral_range() -> None:
    taken = [free_port() for _ in range(200)]
    assert len(set(taken)) == len(taken)
    assert all(port in PORTS for port in taken)


def test_with_a_low_ephemeral_range_the_kernel_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs, "_ephemeral_start", lambda: 1024)
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # it was free
    assert port not in PORTS  # the kernel picked it from its own (real) ephemeral range
