"""The SFTP check of ``flexbridge check`` with a merchants file: each merchant's own account.

Every merchant with a route to SFTP (``routing.mit`` / ``routing.transmit`` = ``"sftp"``) logs in
with its ``sftp.username`` and ``sftp.key_path`` (the worker's own clients,
:class:`consumers.sftp.accounts.SftpAccounts`), the host key pinned, and lists its inbound and
outbound folders; at most :data:`CONCURRENCY` accounts at once. A merchant whose account passes
is one line, ``sftp (NAME)``; each failure is a line of its own naming the merchant and the field.

The server (host, port, known_hosts) is the same for every merchant, so the first merchant is
checked alone: when the server itself fails it (unreachable, another host key), that one failure
is reported and the other merchants are not tried.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Final

from consumers.sftp.accounts import SftpAccounts
from consumers.sftp.client import SftpConfigError
from core.merchants import Merchant, Merchants
from core.merchants_file import ENV_NAME
from core.settings import Settings
from streams.ops.check import CheckResult
from streams.ops.check_sftp import KNOWN_HOSTS, SERVER, Account, account_checks, known_hosts_failure

__all__ = ["CONCURRENCY", "merchant_sftp_checks"]

CONCURRENCY: Final = 16  # merchants' accounts checked at once (one SSH connection each)


def _account(merchant: Merchant) -> Account:
    field = f'{ENV_NAME}: merchant "{merchant.name}" '
    username = merchant.sftp.username if merchant.sftp is not None else ""  # always set when routed
    return Account(
        username, f" ({merchant.name})", field + "sftp.username, sftp.key_path", field + "sftp.key_path"
    )


async def _merchant(accounts: SftpAccounts, settings: Settings, merchant: Merchant) -> list[CheckResult]:
    """The merchant's account: one passing line, or its failures."""
    results = await account_checks(accounts.client(merchant), settings.sftp, _account(merchant))
    if all(r.ok for r in results):
        return [CheckResult(f"sftp ({merchant.name})", True, "; ".join(r.detail for r in results))]
    return [r for r in results if not r.ok]


def _server_failed(results: list[CheckResult]) -> bool:
    """The failure is the shared server's (unreachable, another host key), not the merchant's account."""
    return any(not r.ok and r.setting in (KNOWN_HOSTS, SERVER) for r in results)


async def _all(accounts: SftpAccounts, settings: Settings, routed: list[Merchant]) -> list[CheckResult]:
    first = await _merchant(accounts, settings, routed[0])
    rest = routed[1:]
    if rest and _server_failed(first):
        note = f"; the other {len(rest)} merchant(s) were not tried (they share the server)"
        return [replace(r, detail=r.detail + note) for r in first]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(merchant: Merchant) -> list[CheckResult]:
        async with gate:
            return await _merchant(accounts, settings, merchant)

    done = await asyncio.gather(*(one(m) for m in rest))
    return first + [r for results in done for r in results]


async def merchant_sftp_checks(settings: Settings, merchants: Merchants) -> list[CheckResult]:
    """Each merchant routed to SFTP: login with its own account, host key pinned, its folders."""
    routed = [m for m in merchants if m.sftp_routes]
    if not routed:
        return []
    accounts = SftpAccounts(settings.sftp)
    try:
        accounts.check([])  # the pinned host keys, read once for every merchant's client
    except SftpConfigError as exc:
        return [known_hosts_failure(exc)]
    try:
        return await _all(accounts, settings, routed)
    finally:
        await accounts.close()
