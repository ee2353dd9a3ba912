"""SFTP failures as flexbridge errors, and what a directory listing returns (beside the client,
consumers/sftp/client.py, the only other module that knows asyncssh)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncssh

from core.errors import FlexbridgeError

__all__ = ["RemoteFile", "SftpConfigError", "SftpError", "key_problem", "sftp_error"]

_REFUSED = (  # the server or its host key was refused, or the login: a retry meets the same
    asyncssh.HostKeyNotVerifiable,
    asyncssh.PermissionDenied,
    asyncssh.IllegalUserName,
    asyncssh.KeyExchangeFailed,
    asyncssh.ProtocolNotSupported,
)
_TRANSIENT_SFTP = (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection, asyncssh.SFTPFailure)


@dataclass(frozen=True, slots=True)
class RemoteFile:
    name: str
    size: int
    mtime: float


class SftpError(FlexbridgeError):
    """An SFTP operation failed; ``retriable`` says whether trying again can succeed."""

    reason = "sftp"


class SftpConfigError(SftpError):
    """The SFTP settings cannot work (no known_hosts file, unreadable key)."""

    retriable = False


def sftp_error(exc: BaseException, what: str) -> SftpError:
    """``exc`` (an asyncssh error, an OSError, a timeout) as an :class:`SftpError` about ``what``."""
    if isinstance(exc, SftpError):
        return exc
    if isinstance(exc, asyncssh.SFTPError):
        retriable = isinstance(exc, _TRANSIENT_SFTP)
    elif isinstance(exc, asyncssh.Error):
        retriable = not isinstance(exc, _REFUSED)
    else:  # OSError (refused, reset, unreachable) or a timeout
        retriable = isinstance(exc, OSError | TimeoutError)
    text = str(exc)
    return SftpError(
        f"SFTP {what}: {type(exc).__name__}" + (f": {text}" if text else ""), retriable=retriable
    )


def key_problem(setting: str, path: object, exc: Exception, passphrase: str | None) -> str:
    """Why the private key at ``path`` (named by ``setting``) cannot be used: a file that cannot be
    read, or asyncssh's reason (not a private key, no passphrase or a wrong one); never the
    passphrase itself."""
    problem = f"cannot read SFTP key {setting}={path}: {type(exc).__name__}"
    if isinstance(exc, OSError):
        return problem
    reason = str(exc)
    if passphrase and passphrase in reason:
        reason = "the key cannot be decrypted"
    if isinstance(exc, asyncssh.KeyEncryptionError) or "assphrase" in reason:
        reason += "; check FLEXBRIDGE_SFTP__KEY_PASSPHRASE"
    return f"{problem} ({reason})"
