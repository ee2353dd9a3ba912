"""The sandbox's SFTP server (asyncssh): what Flex gives a merchant for batch files.

- Keys live in the state directory: ``ssh_host_ed25519_key`` (the server's host key, kept across
  restarts), ``known_hosts`` (for clients; rewritten with the port on every start) and a
  development client key pair ``client_key`` / ``client_key.pub``, authorised for user
  ``merchant`` unless ``--sftp-authorized-key`` names another public key. With a merchants file,
  each merchant with an ``sftp`` table is a user of its own, authorised with its ``key_path.pub``.
- Public-key authentication only, and only from the source addresses of ``sftp_allowed_ips``
  (Flex whitelists a merchant's key and IP).
- Each user is chrooted to ``<state>/sftp/<user>/`` holding ``inbound/`` and ``outbound/``.
- ``SftpFaults`` can cut a connection after it has written some bytes (an upload dropped midway),
  or right after it renamed a file into place, before the answer goes back (the client cannot
  tell whether the rename happened), every account's or only those of the merchants it is aimed
  at (:class:`MerchantAim`); or refuse (permission denied, until cleared) a rename to a name ending
  with a suffix, or the listing of a folder (an account whose permissions were changed).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from .config import SINGLE_MERCHANT, SandboxConfig

__all__ = ["MerchantAim", "SftpFaults", "SftpServer", "SftpUser", "start_sftp"]

HOST_KEY = "ssh_host_ed25519_key"
CLIENT_KEY = "client_key"
KNOWN_HOSTS = "known_hosts"


@dataclass(frozen=True, slots=True)
class MerchantAim:
    """The merchants an SFTP fault is aimed at: ``given`` as asked (names or MIDs), ``names`` the
    names of their merchants. Nothing given: every merchant, as for the API faults."""

    given: tuple[str, ...] = ()
    names: frozenset[str] = frozenset()

    def hits(self, merchant: str) -> bool:
        """Whether the fault applies to the account of the merchant named ``merchant``."""
        return not self.given or merchant in self.names


@dataclass(slots=True)
class SftpFaults:
    """``drop_after_bytes``: abort the next ``times`` connections (of ``aim``'s merchants' accounts)
    once they wrote that many bytes. ``drop_after_rename``: abort them right after a rename to a
    name ending with it is done, before it is answered. ``deny_rename`` / ``deny_list``: refuse
    (permission denied) every rename to a name ending with it / every listing of a folder whose
    path ends with it, until the faults are cleared (``times`` does not apply)."""

    drop_after_bytes: int | None = None
    drop_after_rename: str | None = None
    deny_rename: str | None = None
    deny_list: str | None = None
    times: int = 0
    dropped: int = 0
    denied: int = 0  # operations refused by deny_rename / deny_list
    aim: MerchantAim = field(default_factory=MerchantAim)

    def wire(self) -> dict[str, object]:
        return {
            "dropAfterBytes": self.drop_after_bytes,
            "dropAfterRename": self.drop_after_rename,
            "denyRename": self.deny_rename,
            "denyList": self.deny_list,
            "times": self.times,
            "dropped": self.dropped,
            "denied": self.denied,
            "merchants": list(self.aim.given),
        }


@dataclass(frozen=True, slots=True)
class SftpUser:
    name: str
    root: Path
    key: asyncssh.SSHKey
    merchant: str  # the name of the merchant this account is Flex's for

    @property
    def inbound(self) -> Path:
        return self.root / "inbound"

    @property
    def outbound(self) -> Path:
        return self.root / "outbound"


def _key_pair(path: Path) -> asyncssh.SSHKey:
    if path.exists():
        return asyncssh.read_private_key(path)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"flexbridge-sandbox-{path.name}")
    key.write_private_key(path)
    path.chmod(0o600)
    key.write_public_key(path.with_name(path.name + ".pub"))
    return key


class _Session(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], user: SftpUser, server: SftpServer) -> None:
        super().__init__(chan, chroot=str(user.root).encode())
        self._server = server
        self._merchant = user.merchant
        self._written = 0

    def _cut(self, f: SftpFaults) -> bool:
        """Whether the drop fault cuts this session now (its account aimed at, enough written)."""
        over = f.drop_after_bytes is not None and self._written > f.drop_after_bytes
        return f.times > 0 and over and f.aim.hits(self._merchant)

    def _drop(self, f: SftpFaults) -> None:
        f.times -= 1
        f.dropped += 1
        self.connection.abort()
        raise asyncssh.SFTPConnectionLost("connection dropped by the sandbox (fault injection)")

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        self._written += len(data)
        f = self._server.faults
        if self._cut(f):
            self._drop(f)
        written = super().write(file_obj, offset, data)
        assert isinstance(written, int)  # the local-file implementation is synchronous  # noqa: S101
        return written

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._deny(self._server.faults.deny_rename, newpath)
        super().rename(oldpath, newpath)  # the local-file implementation is synchronous
        self._renamed(newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._deny(self._server.faults.deny_rename, newpath)
        super().posix_rename(oldpath, newpath)
        self._renamed(newpath)

    def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        self._deny(self._server.faults.deny_list, path.rstrip(b"/"))
        return super().scandir(path)

    def _deny(self, suffix: str | None, path: bytes) -> None:
        """Refuse the operation on ``path`` if a deny fault aimed at this account matches it."""
        f, name = self._server.faults, path.decode(errors="replace")
        if suffix is not None and name.endswith(suffix) and f.aim.hits(self._merchant):
            f.denied += 1
            raise asyncssh.SFTPPermissionDenied("permission denied by the sandbox (fault injection)")

    def _renamed(self, newpath: bytes) -> None:
        """The rename is done; the drop fault may cut the session before it is answered."""
        f, name = self._server.faults, newpath.decode(errors="replace")
        suffix = f.drop_after_rename
        if suffix is not None and f.times > 0 and name.endswith(suffix) and f.aim.hits(self._merchant):
            self._drop(f)


class _Auth(asyncssh.SSHServer):
    def __init__(self, server: SftpServer) -> None:
        self._server = server
        self._peer: str | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        peer = conn.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else None

    def begin_auth(self, username: str) -> bool:
        if self._peer not in self._server.allowed_ips:
            raise asyncssh.PermissionDenied(f"source address {self._peer} is not allowed")
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        user = self._server.users.get(username)
        return user is not None and user.key.public_data == key.public_data


@dataclass(slots=True)
class SftpServer:
    state_dir: Path
    users: dict[str, SftpUser]
    allowed_ips: frozenset[str]
    faults: SftpFaults = field(default_factory=SftpFaults)
    port: int = 0
    host: str = "127.0.0.1"
    _acceptor: asyncssh.SSHAcceptor | None = None
    _owned_dir: bool = False

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / KNOWN_HOSTS

    @property
    def client_key(self) -> Path:
        return self.state_dir / CLIENT_KEY

    def session(self, chan: asyncssh.SSHServerChannel[bytes]) -> _Session:
        return _Session(chan, self.users[chan.get_extra_info("username")], self)

    def clear(self) -> None:
        """Empty every user's folders (the sandbox reset) and clear the faults."""
        for user in self.users.values():
            for folder in (user.inbound, user.outbound):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True, exist_ok=True)
        self.faults = SftpFaults()

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        if self._owned_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def _user(state_dir: Path, name: str, key: asyncssh.SSHKey, merchant: str) -> SftpUser:
    root = state_dir / "sftp" / name
    for folder in ("inbound", "outbound"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return SftpUser(name, root, key, merchant)


def _users(config: SandboxConfig, state_dir: Path) -> dict[str, SftpUser]:
    client = _key_pair(state_dir / CLIENT_KEY)
    if config.merchants:
        return {
            m.sftp_username: _user(
                state_dir, m.sftp_username, asyncssh.read_public_key(m.sftp_public_key), m.name
            )
            for m in config.merchants
            if m.sftp_username is not None and m.sftp_public_key is not None
        }
    key = asyncssh.read_public_key(config.sftp_authorized_key) if config.sftp_authorized_key else client
    return {config.sftp_username: _user(state_dir, config.sftp_username, key, SINGLE_MERCHANT)}


async def start_sftp(config: SandboxConfig) -> SftpServer:
    """Start listening on ``config.host``/``config.sftp_port`` (0 = a free port)."""
    owned = config.state_dir is None
    state_dir = (
        Path(tempfile.mkdtemp(prefix="flexbridge-sandbox-")) if owned else Path(config.state_dir or ".")
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    host_key = _key_pair(state_dir / HOST_KEY)
    server = SftpServer(state_dir, _users(config, state_dir), frozenset(config.sftp_allowed_ips))
    server._owned_dir = owned
    try:
        server._acceptor = await asyncssh.listen(
            config.host,
            config.sftp_port or 0,
            server_host_keys=[host_key],
            server_factory=lambda: _Auth(server),
            sftp_factory=server.session,
            allow_scp=False,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            await server.close()
        raise
    server.host, server.port = config.host, server._acceptor.get_port()
    public = host_key.export_public_key("openssh").decode().strip()
    hosts = f"[{server.host}]:{server.port},[localhost]:{server.port}"
    server.known_hosts.write_text(f"{hosts} {public}\n")
    return server
