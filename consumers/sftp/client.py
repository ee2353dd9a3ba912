"""SFTP client for Flex batch files (asyncssh): key auth, pinned host key, atomic uploads.

- Authentication is by key only (``FLEXBRIDGE_SFTP__KEY_PATH``); passwords and agents are not
  tried. The server's host key must be in ``FLEXBRIDGE_SFTP__KNOWN_HOSTS`` (default
  ``~/.ssh/known_hosts``): an unknown host key is refused, never accepted.
- :meth:`SftpClient.upload` writes a temporary name and renames it into place (POSIX rename,
  which replaces an earlier upload of the same name), so a reader never sees a partial file.
- One connection is shared by all callers and reopened after it drops; :meth:`retrying` repeats an
  operation with full-jitter exponential backoff until it succeeds (or the caller is cancelled).
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncssh

from core.errors import FlexbridgeError
from core.settings import SftpSettings

__all__ = ["RemoteFile", "SftpClient", "SftpConfigError"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class SftpConfigError(FlexbridgeError):
    """The SFTP settings cannot work (no known_hosts file, unreadable key)."""


@dataclass(frozen=True, slots=True)
class RemoteFile:
    name: str
    size: int
    mtime: float


class SftpClient:
    def __init__(self, settings: SftpSettings) -> None:
        self._settings = settings
        self._lock = asyncio.Lock()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self.connects = 0

    def _known_hosts(self) -> str:
        path = self._settings.known_hosts or Path.home() / ".ssh" / "known_hosts"
        if not Path(path).is_file():
            raise SftpConfigError(
                f"SFTP host key cannot be checked: known_hosts file {path} not found "
                "(set FLEXBRIDGE_SFTP__KNOWN_HOSTS)"
            )
        return str(path)

    def _client_keys(self) -> list[asyncssh.SSHKey] | None:
        s = self._settings
        if s.key_path is None:
            return None  # asyncssh's default keys in ~/.ssh
        passphrase = s.key_passphrase.get_secret_value() if s.key_passphrase else None
        try:
            return [asyncssh.read_private_key(s.key_path, passphrase)]
        except (OSError, asyncssh.KeyImportError) as exc:
            raise SftpConfigError(
                f"cannot read SFTP key FLEXBRIDGE_SFTP__KEY_PATH={s.key_path}: {type(exc).__name__}"
            ) from None

    def check(self) -> None:
        """Raise SftpConfigError now if the known_hosts file or the key cannot be used."""
        self._known_hosts()
        self._client_keys()

    async def session(self) -> asyncssh.SFTPClient:
        """The open SFTP session, connecting first if needed."""
        async with self._lock:
            if self._sftp is not None and self._conn is not None and not self._conn.is_closed():
                return self._sftp
            await self._drop()
            s = self._settings
            self._conn = await asyncio.wait_for(
                asyncssh.connect(
                    s.host,
                    s.port,
                    username=s.username,
                    known_hosts=self._known_hosts(),
                    client_keys=self._client_keys(),
                    agent_path=None,
                    password=None,
                    preferred_auth="publickey",
                    keepalive_interval=15,
                ),
                timeout=s.connect_timeout_seconds,
            )
            self._sftp = await self._conn.start_sftp_client()
            self.connects += 1
            return self._sftp

    async def _drop(self) -> None:
        conn, self._conn, self._sftp = self._conn, None, None
        if conn is not None:
            conn.abort()
            await conn.wait_closed()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def retrying(self, what: str, op: Callable[[asyncssh.SFTPClient], Awaitable[T]]) -> T:
        """Run ``op`` on a session until it succeeds; connection loss reconnects and backs off."""
        s = self._settings
        attempt = 0
        while True:
            try:
                return await op(await self.session())
            except SftpConfigError:
                raise
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                attempt += 1
                delay = random.uniform(0, min(s.backoff_max_seconds, s.backoff_base_seconds * 2**attempt))
                log.warning(
                    "SFTP %s failed (%s: %s); retry %d in %.1f s",
                    what,
                    type(exc).__name__,
                    exc,
                    attempt,
                    delay,
                )
                async with self._lock:
                    await self._drop()
                await asyncio.sleep(delay)

    async def upload(self, directory: str, name: str, data: bytes, temp: str) -> None:
        """Write ``data`` to ``directory/temp``, then rename it to ``directory/name`` (replacing)."""
        await self.write_temp(directory, temp, data)
        await self.rename_temp(directory, name, data, temp)

    async def write_temp(self, directory: str, temp: str, data: bytes) -> None:
        """The first half of :meth:`upload`: write ``data`` to ``directory/temp`` (one write call;
        asyncssh splits it into parallel block requests)."""
        scratch = posixpath.join(directory, temp)

        async def op(sftp: asyncssh.SFTPClient) -> None:
            await _write(sftp, scratch, data)

        await self.retrying(f"upload of {temp}", op)

    async def rename_temp(self, directory: str, name: str, data: bytes, temp: str) -> None:
        """The second half of :meth:`upload`: rename ``directory/temp`` into ``directory/name``.
        If the temporary file is gone (a retry after a rename whose answer was lost), it is
        written again from ``data`` first, so the outcome is the same file either way."""
        target, scratch = posixpath.join(directory, name), posixpath.join(directory, temp)

        async def op(sftp: asyncssh.SFTPClient) -> None:
            try:
                await _replace(sftp, scratch, target)
                return
            except asyncssh.SFTPNoSuchFile:
                pass
            await _write(sftp, scratch, data)
            await _replace(sftp, scratch, target)

        await self.retrying(f"rename of {name}", op)

    async def listdir(self, directory: str) -> list[RemoteFile]:
        """Regular files in ``directory`` (one attempt; raises on failure)."""
        sftp = await self.session()
        entries = await sftp.readdir(directory)
        return [
            RemoteFile(str(e.filename), e.attrs.size or 0, float(e.attrs.mtime or 0))
            for e in entries
            if e.attrs.type == asyncssh.FILEXFER_TYPE_REGULAR
        ]

    async def read(self, path: str) -> bytes:
        sftp = await self.session()
        async with sftp.open(path, "rb") as handle:
            data: bytes = await handle.read()
            return data

    async def rename(self, source: str, target: str) -> bool:
        """Move ``source`` to ``target`` (replacing it); False if ``source`` is gone (someone claimed it)."""
        sftp = await self.session()
        try:
            await _replace(sftp, source, target)
        except asyncssh.SFTPNoSuchFile:
            return False
        return True

    async def makedirs(self, directory: str) -> None:
        sftp = await self.session()
        await sftp.makedirs(directory, exist_ok=True)


async def _write(sftp: asyncssh.SFTPClient, path: str, data: bytes) -> None:
    async with sftp.open(path, "wb") as handle:
        await handle.write(data)


async def _replace(sftp: asyncssh.SFTPClient, source: str, target: str) -> None:
    try:
        await sftp.posix_rename(source, target)  # OpenSSH extension: atomic, replaces the target
        return
    except asyncssh.SFTPOpUnsupported:
        pass
    try:  # plain SFTPv3 rename refuses an existing target
        await sftp.remove(target)
    except asyncssh.SFTPNoSuchFile:
        pass
    await sftp.rename(source, target)
