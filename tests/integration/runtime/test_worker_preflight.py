"""What the host must give a worker is checked before anything starts: one line naming the setting
and exit 2, not a Faust traceback once the app is half up (streams/runtime/launch.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import asyncssh
import pytest

from streams.local.procs import free_port
from tests.support import run_flexbridge

pytestmark = pytest.mark.integration

CREDENTIALS = {"FLEXBRIDGE_FLEX__APP_KEY": "k", "FLEXBRIDGE_FLEX__APP_SECRET": "s"}


async def test_a_web_port_in_use_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # noqa: S104  # the worker's default host
        taken.listen()
        port = taken.getsockname()[1]
        env = {**CREDENTIALS, "FLEXBRIDGE_WEB__PORT": str(port)}
        code, _, err = await run_flexbridge(env, "worker", timeout=30)
    assert code == 2 and f"FLEXBRIDGE_WEB__PORT: cannot listen on 0.0.0.0:{port}" in err, err
    assert "Traceback" not in err


async def test_an_unreadable_sftp_key_is_named_when_something_goes_by_sftp(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    known.write_text(f"[127.0.0.1]:{free_port()} {key}\n")
    env = {
        **CREDENTIALS,
        "FLEXBRIDGE_ROUTING__MIT": "sftp",
        "FLEXBRIDGE_SFTP__KNOWN_HOSTS": str(known),
        "FLEXBRIDGE_SFTP__KEY_PATH": str(tmp_path / "no-such-key"),
        "FLEXBRIDGE_WEB__PORT": str(free_port()),
    }
    code, _, err = await run_flexbridge(env, "worker", timeout=30)
    assert code == 2 and "FLEXBRIDGE_SFTP__KEY_PATH" in err.splitlines()[-1], err
    assert "Traceback" not in err
