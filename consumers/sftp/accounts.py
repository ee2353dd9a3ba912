"""One SFTP client per merchant: its own account (``sftp.username`` / ``sftp.key_path``) on the one
configured server (host, port, known_hosts, folders: ``FLEXBRIDGE_SFTP__*``, DESIGN.md §2.9).

A merchant's client is made on first use and connects on its first operation; a connection no
operation used for ``idle_seconds`` is closed by :meth:`SftpAccounts.close_idle`, so a merchant
with nothing to send or fetch holds no connection, no task and no thread. Every client checks the
server against the same pinned host keys, read once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import asyncssh

from consumers.sftp.client import SftpClient
from consumers.sftp.errors import SftpConfigError
from consumers.sftp.known_hosts import read_known_hosts
from core.merchants import SINGLE_MERCHANT_NAME, Merchant
from core.settings import SftpSettings

__all__ = ["SftpAccounts"]


class SftpAccounts:
    def __init__(self, settings: SftpSettings, *, idle_seconds: float = 60.0) -> None:
        self._settings = settings
        self._idle = idle_seconds
        self._known_hosts: asyncssh.SSHKnownHosts | None = None
        self._clients: dict[str, SftpClient] = {}

    def check(self, merchants: Iterable[Merchant]) -> None:
        """Raise SftpConfigError now if the known_hosts file or a merchant's key cannot be used."""
        self._known_hosts = read_known_hosts(self._settings)
        for merchant in merchants:
            self.client(merchant).check()

    def client(self, merchant: Merchant) -> SftpClient:
        """The merchant's client (made now if it is the first use; not connected until used)."""
        client = self._clients.get(merchant.name)
        if client is None:
            if merchant.sftp is None:
                raise SftpConfigError(f'merchant "{merchant.name}" has no SFTP account (sftp = {{…}})')
            account = {"username": merchant.sftp.username, "key_path": merchant.sftp.key_path}
            single = merchant.name == SINGLE_MERCHANT_NAME
            setting = "FLEXBRIDGE_SFTP__KEY_PATH" if single else f'merchant "{merchant.name}": sftp.key_path'
            client = SftpClient(
                self._settings.model_copy(update=account), known_hosts=self._known_hosts, key_setting=setting
            )
            self._clients[merchant.name] = client
        return client

    async def close_idle(self, now: float | None = None) -> int:
        """Close every connection idle for ``idle_seconds``; returns how many were closed."""
        closed = [await c.close_if_idle(self._idle, now) for c in list(self._clients.values())]
        return sum(closed)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()))

    @property
    def open_sessions(self) -> int:
        return sum(1 for c in self._clients.values() if c.connected)

    @property
    def connects(self) -> int:
        return sum(c.connects for c in self._clients.values())
