"""The SFTP check of ``flexbridge check``: pinned host key, login, and the inbound and outbound folders.

Run only when a flow is routed to SFTP batches (``FLEXBRIDGE_ROUTING__*``). With a merchants file,
each merchant routed to SFTP is checked with its own account (streams/ops/check_sftp_merchants.py).
The client is the worker's own (:class:`consumers.sftp.client.SftpClient`); its errors carry
asyncssh's as their cause, read here by class name so that asyncssh stays inside the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from consumers.sftp.client import SftpClient, SftpConfigError, SftpError
from consumers.sftp.known_hosts import read_known_hosts
from core.settings import Settings, SftpSettings
from streams.ops.check import CheckResult

__all__ = ["KNOWN_HOSTS", "SERVER", "Account", "account_checks", "known_hosts_failure", "sftp_checks"]

_PREFIX = "FLEXBRIDGE_SFTP__"
KNOWN_HOSTS: Final = _PREFIX + "KNOWN_HOSTS"
SERVER: Final = f"{_PREFIX}HOST, {_PREFIX}PORT"


@dataclass(frozen=True, slots=True)
class Account:
    """Whose SFTP account a check logs in to, and how its results name it and its settings."""

    username: str
    suffix: str = ""  # after each check's name: " (acme)" for a merchant of the merchants file
    login_setting: str = f"{_PREFIX}KEY_PATH, {_PREFIX}USERNAME"
    key_setting: str = f"{_PREFIX}KEY_PATH"


def _cause_names(exc: BaseException) -> set[str]:
    """The class names of ``exc``'s cause and its bases (asyncssh's error behind an SftpError)."""
    cause = exc.__cause__ or exc
    return {cls.__name__ for cls in type(cause).__mro__}


def known_hosts_failure(exc: SftpConfigError) -> CheckResult:
    """The known_hosts file (shared by every account) is missing or cannot be read."""
    fix = "point it at a readable known_hosts file holding the server's host key"
    return CheckResult("sftp settings", False, str(exc), KNOWN_HOSTS, fix)


def _connect_failure(s: SftpSettings, who: Account, exc: BaseException) -> CheckResult:
    names, text = _cause_names(exc), str(exc)
    if "HostKeyNotVerifiable" in names:
        fix = (
            f"the server's host key is not the one pinned for {s.host}:{s.port}; add the key your SFTP "
            "provider publishes (checked out of band, e.g. `ssh-keyscan -p PORT HOST`) to that file"
        )
        return CheckResult(f"sftp host key{who.suffix}", False, text, KNOWN_HOSTS, fix)
    if "PermissionDenied" in names or "IllegalUserName" in names:
        fix = (
            f"register this key's public half for user {who.username!r} with the provider, "
            "or set the right key"
        )
        return CheckResult(f"sftp login{who.suffix}", False, text, who.login_setting, fix)
    fix = "point them at the provider's SFTP server and check that this host reaches it"
    return CheckResult(f"sftp connect{who.suffix}", False, text, SERVER, fix)


async def _folders(client: SftpClient, s: SftpSettings, who: Account) -> list[CheckResult]:
    results = []
    for name, folder in (("inbound", s.inbound_dir), ("outbound", s.outbound_dir)):
        check = f"sftp {name} folder{who.suffix}"
        try:
            files = await client.listdir(folder)
        except SftpError as exc:
            fix = f"create {folder!r} in the account (relative to its login directory) or set the right path"
            results.append(CheckResult(check, False, str(exc), f"{_PREFIX}{name.upper()}_DIR", fix))
            continue
        results.append(CheckResult(check, True, f"{folder!r} lists ({len(files)} files)"))
    return results


async def account_checks(client: SftpClient, s: SftpSettings, who: Account) -> list[CheckResult]:
    """Log in to ``who``'s account with the pinned host key and list both folders (then close)."""
    try:
        client.check()
        await client.connect()
    except SftpConfigError as exc:  # the private key cannot be read
        fix = "point it at a readable private key file"
        return [CheckResult(f"sftp settings{who.suffix}", False, str(exc), who.key_setting, fix)]
    except SftpError as exc:
        return [_connect_failure(s, who, exc)]
    try:
        detail = f"{who.username}@{s.host}:{s.port}, host key matches the pinned one"
        return [CheckResult(f"sftp login{who.suffix}", True, detail), *await _folders(client, s, who)]
    finally:
        await client.close()


async def sftp_checks(settings: Settings) -> list[CheckResult]:
    """Connect with the pinned host key, log in, list both folders; nothing when SFTP is not used.
    The settings' one account (with a merchants file, check_sftp_merchants.py checks each one's)."""
    if not settings.routing.sftp_routes:
        return []
    s = settings.sftp
    try:
        known_hosts = read_known_hosts(s)
    except SftpConfigError as exc:
        return [known_hosts_failure(exc)]
    return await account_checks(SftpClient(s, known_hosts=known_hosts), s, Account(s.username))
