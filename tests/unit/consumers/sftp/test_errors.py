"""Unit tests of consumers.sftp.client.sftp_error: asyncssh and socket failures as SftpError."""

from __future__ import annotations

import asyncssh
import pytest

from consumers.sftp.client import SftpConfigError, SftpError, sftp_error
from core.errors import FlexbridgeError


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "reset"),
        TimeoutError(),
        asyncssh.ConnectionLost("gone"),
        asyncssh.ServiceNotAvailable("busy"),
        asyncssh.SFTPConnectionLost("gone"),
        asyncssh.SFTPNoConnection("none"),
        asyncssh.SFTPFailure("failure"),
        asyncssh.ChannelOpenError(2, "cannot open"),
    ],
)
def test_drops_refusals_and_timeouts_are_retriable(exc: BaseException) -> None:
    error = sftp_error(exc, "upload of x")
    assert isinstance(error, SftpError) and isinstance(error, FlexbridgeError)
    assert error.retriable and error.reason == "sftp"
    assert str(error).startswith(f"SFTP upload of x: {type(exc).__name__}")


@pytest.mark.parametrize(
    "exc",
    [
        asyncssh.HostKeyNotVerifiable("unknown host key"),
        asyncssh.PermissionDenied("not allowed"),
        asyncssh.KeyExchangeFailed("no common algorithm"),
        asyncssh.SFTPPermissionDenied("no"),
        asyncssh.SFTPNoSuchFile("missing"),
        asyncssh.SFTPOpUnsupported("no"),
    ],
)
def test_refused_logins_permissions_and_missing_paths_are_not(exc: BaseException) -> None:
    error = sftp_error(exc, "listing of /out")
    assert not error.retriable
    assert str(exc) in str(error)


def test_an_sftp_error_passes_through_unchanged() -> None:
    config = SftpConfigError("no known_hosts")
    assert sftp_error(config, "connect") is config
    assert not config.retriable
