"""The SFTP check of ``flexbridge check``: pinned host key, login, and the inbound and outbound folders.

Run only when a flow is routed to SFTP batches (``FLEXBRIDGE_ROUTING__*``). The client is the
worker's own (:class:`consumers.sftp.client.SftpClient`); its errors carry asyncssh's as their
cause, read here by class name so that asyncssh stays inside the client.
"""

from __future__ import annotations

from consumers.sftp.client import SftpClient, SftpError
from core.settings import Settings, SftpSettings
from streams.ops.check import CheckResult, named_settings

__all__ = ["sftp_checks"]

_PREFIX = "FLEXBRIDGE_SFTP__"


def _cause_names(exc: BaseException) -> set[str]:
    """The class names of ``exc``'s cause and its bases (asyncssh's error behind an SftpError)."""
    cause = exc.__cause__ or exc
    return {cls.__name__ for cls in type(cause).__mro__}


def _connect_failure(s: SftpSettings, exc: BaseException) -> CheckResult:
    names, text = _cause_names(exc), str(exc)
    if "HostKeyNotVerifiable" in names:
        fix = (
            f"the server's host key is not the one pinned for {s.host}:{s.port}; add the key your SFTP "
            "provider publishes (checked out of band, e.g. `ssh-keyscan -p PORT HOST`) to that file"
        )
        return CheckResult("sftp host key", False, text, _PREFIX + "KNOWN_HOSTS", fix)
    if "PermissionDenied" in names or "IllegalUserName" in names:
        fix = (
            f"register this key's public half for user {s.username!r} with the provider, or set the right key"
        )
        setting = f"{_PREFIX}KEY_PATH, {_PREFIX}USERNAME"
        return CheckResult("sftp login", False, text, setting, fix)
    fix = "point them at the provider's SFTP server and check that this host reaches it"
    return CheckResult("sftp connect", False, text, f"{_PREFIX}HOST, {_PREFIX}PORT", fix)


async def _folders(client: SftpClient, s: SftpSettings) -> list[CheckResult]:
    results = []
    for name, folder in (("inbound", s.inbound_dir), ("outbound", s.outbound_dir)):
        try:
            files = await client.listdir(folder)
        except SftpError as exc:
            fix = f"create {folder!r} on the server (relative to the login directory) or set the right path"
            results.append(
                CheckResult(f"sftp {name} folder", False, str(exc), f"{_PREFIX}{name.upper()}_DIR", fix)
            )
            continue
        results.append(CheckResult(f"sftp {name} folder", True, f"{folder!r} lists ({len(files)} files)"))
    return results


async def sftp_checks(settings: Settings) -> list[CheckResult]:
    """Connect with the pinned host key, log in, list both folders; nothing when SFTP is not used."""
    r = settings.routing
    if "sftp" not in (r.mit, r.transmit):
        return []
    s = settings.sftp
    client = SftpClient(s)
    try:
        client.check()
        await client.connect()
    except SftpError as exc:
        if named_settings(str(exc)):  # no known_hosts file, an unreadable key: the message says which
            fix = "point it at a readable file"
            return [CheckResult("sftp settings", False, str(exc), named_settings(str(exc)), fix)]
        return [_connect_failure(s, exc)]
    try:
        login = CheckResult(
            "sftp login", True, f"{s.username}@{s.host}:{s.port}, host key matches the pinned one"
        )
        return [login, *await _folders(client, s)]
    finally:
        await client.close()
