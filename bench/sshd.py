"""A throw-away OpenSSH server: Debian's sshd on a loopback port, its own host key and authorized
key, the ``sftp-server`` subsystem. It runs as the current user (then only that user can log in);
as root it logs in root by key only. The benchmark's MIT ceiling and the SFTP tests upload to it.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from core.errors import FlexbridgeError
from streams.local.procs import free_port

__all__ = ["OpenSsh", "OpenSshUnavailable", "openssh_server"]

_SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
)


class OpenSshUnavailable(FlexbridgeError):
    """sshd is not installed or could not start."""

    reason = "openssh"


@dataclass(frozen=True)
class OpenSsh:
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    home: Path  # the directory uploads land in (relative paths start here)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def _config(tmp: Path, port: int, host_key: Path, authorized: Path, sftp_server: str) -> Path:
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {tmp / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"Subsystem sftp {sftp_server}\n"
    )
    return config


def _binaries() -> tuple[str, str]:
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    sftp_server = next((p for p in _SFTP_SERVERS if os.path.exists(p)), None)
    if sshd is None or sftp_server is None:
        raise OpenSshUnavailable("OpenSSH server not installed (tests/system-packages.sh installs it)")
    return sshd, sftp_server


def _keys(tmp: Path) -> tuple[Path, Path]:
    """A host key and a client key in ``tmp``, the client's public key in ``authorized_keys``."""
    host_key, client_key = tmp / "host_key", tmp / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(host_key)
    host_key.chmod(0o600)
    client = asyncssh.generate_private_key("ssh-ed25519")
    client.write_private_key(client_key)
    client.write_public_key(tmp / "authorized_keys")
    return host_key, client_key


@contextmanager
def openssh_server(tmp: Path) -> Iterator[OpenSsh]:
    """sshd running from ``tmp`` (its config, keys, log and known_hosts) until the block ends."""
    sshd, sftp_server = _binaries()
    tmp = tmp.resolve()  # sshd re-executes itself from /: its config must name absolute paths
    tmp.mkdir(parents=True, exist_ok=True)
    host_key, client_key = _keys(tmp)
    port = free_port()
    config = _config(tmp, port, host_key, tmp / "authorized_keys", sftp_server)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    log = tmp / "sshd.log"
    with log.open("wb") as sink:
        args = [sshd, "-D", "-e", "-f", str(config)]
        proc = subprocess.Popen(args, stderr=sink, stdout=subprocess.DEVNULL)  # our own argv  # noqa: S603
    try:
        if not _wait_listening(port, proc, 10):
            raise OpenSshUnavailable(f"sshd could not start: {log.read_text()[-500:]}")
        public = asyncssh.read_private_key(host_key).export_public_key().decode().strip()
        known_hosts = tmp / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {public}\n")
        yield OpenSsh(port, getpass.getuser(), client_key, known_hosts, Path(os.path.expanduser("~")))
    finally:
        proc.terminate()
        proc.wait(10)
