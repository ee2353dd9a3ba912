"""The pinned SFTP host keys (``FLEXBRIDGE_SFTP__KNOWN_HOSTS``): a missing or unreadable file stops
the worker at start, naming the setting; an unknown host key is refused, never accepted."""

from __future__ import annotations

from pathlib import Path

import asyncssh

from consumers.sftp.errors import SftpConfigError
from core.settings import SftpSettings

__all__ = ["known_hosts_path", "read_known_hosts"]


def read_known_hosts(settings: SftpSettings) -> asyncssh.SSHKnownHosts:
    """The pinned host keys of ``FLEXBRIDGE_SFTP__KNOWN_HOSTS``, read once for every account's client."""
    path = known_hosts_path(settings)
    try:
        return asyncssh.read_known_hosts(str(path))
    except (OSError, ValueError) as exc:
        raise SftpConfigError(
            f"cannot read known_hosts file FLEXBRIDGE_SFTP__KNOWN_HOSTS={path}: {type(exc).__name__}"
        ) from None


def known_hosts_path(settings: SftpSettings) -> Path:
    path = settings.known_hosts or Path.home() / ".ssh" / "known_hosts"
    if not Path(path).is_file():
        raise SftpConfigError(
            f"SFTP host key cannot be checked: known_hosts file {path} not found "
            "(set FLEXBRIDGE_SFTP__KNOWN_HOSTS)"
        )
    return Path(path)
