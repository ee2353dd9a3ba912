"""The OpenSSH server of bench/sshd.py as a session fixture: fails with the reason when sshd
cannot start (the tests never skip for want of it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from bench.sshd import OpenSsh, OpenSshUnavailable, openssh_server

__all__ = ["OpenSsh", "openssh"]


@pytest.fixture(scope="session")
def openssh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSsh]:
    with ExitStack() as stack:
        try:
            server = stack.enter_context(openssh_server(tmp_path_factory.mktemp("sshd")))
        except OpenSshUnavailable as exc:
            pytest.fail(f"{exc} (make test installs it)")
        yield server
