"""The Flex check of ``flexbridge check``: fetch a bearer token with each merchant's credentials.

The first merchant is checked alone: when Flex itself fails it (unreachable, no token for a reason
other than the credentials), that one failure is reported and the other merchants are not tried,
since they share the API. Otherwise the others are checked :data:`CONCURRENCY` at once, so a
processor's hundreds of merchants take seconds, not one deadline each.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Final

from consumers.flex.client import FlexAuthFailed, FlexClient, FlexError
from core.merchants import Merchant, Merchants
from core.merchants_file import ENV_NAME
from core.settings import Settings
from streams.ops.check import CheckResult, named_settings

__all__ = ["CONCURRENCY", "DEADLINE_SECONDS", "flex_checks"]

DEADLINE_SECONDS = 5.0  # retries of an unreachable Flex stop here, not after the worker's deadline
CONCURRENCY: Final = 16  # merchants' token fetches at once
_URL = "FLEXBRIDGE_FLEX__BASE_URL"


def _failure(name: str, exc: FlexError, merchant: Merchant | None) -> CheckResult:
    text = str(exc)
    if isinstance(exc, FlexAuthFailed):
        setting = named_settings(text) or "FLEXBRIDGE_FLEX__APP_KEY, FLEXBRIDGE_FLEX__APP_SECRET"
        if merchant is not None:
            setting = f'{ENV_NAME}: merchant "{merchant.name}" app_key, app_secret'
        fix = "use the app key and secret of this merchant's Flex portal (and its environment's base URL)"
        return CheckResult(name, False, f"Flex refused the credentials: {text}", setting, fix)
    fix = "check the URL (with its version segment, e.g. https://…/v1/) and that this host reaches it"
    return CheckResult(name, False, f"no token from Flex: {text}", _URL, fix)


async def _token(client: FlexClient, merchant: Merchant | None, url: str) -> CheckResult:
    name = f"flex token ({merchant.name if merchant else client.credentials.mid or 'default'})"
    try:
        await (client.for_merchant(merchant) if merchant else client).ensure_token()
    except FlexError as exc:
        return _failure(name, exc, merchant)
    return CheckResult(name, True, f"token granted by {url}")


async def flex_checks(settings: Settings, merchants: Merchants | None) -> list[CheckResult]:
    """One token fetch per merchant of the merchants file, over one client's connection pools, in
    the file's order; without a file (``merchants`` None) one with the single-merchant settings."""
    served: list[Merchant | None] = [None] if merchants is None else list(merchants)
    flex = settings.flex
    deadline = min(flex.deadline_seconds, DEADLINE_SECONDS)
    quick = flex.model_copy(update={"deadline_seconds": deadline, "timeout_seconds": deadline})
    async with FlexClient(quick) as client:
        first = await _token(client, served[0], flex.base_url)
        rest = served[1:]
        if rest and not first.ok and first.setting == _URL:
            note = f"; the other {len(rest)} merchant(s) were not tried (they share the Flex API)"
            return [replace(first, detail=first.detail + note)]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(merchant: Merchant | None) -> CheckResult:
            async with gate:
                return await _token(client, merchant, flex.base_url)

        return [first, *await asyncio.gather(*(one(m) for m in rest))]
