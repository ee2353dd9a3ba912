"""The Flex check of ``flexbridge check``: fetch a bearer token with each merchant's credentials."""

from __future__ import annotations

from consumers.flex.client import FlexAuthFailed, FlexClient, FlexError
from core.settings import FlexSettings, Settings
from streams.ops.check import CheckResult, named_settings

__all__ = ["DEADLINE_SECONDS", "flex_checks", "merchants"]

DEADLINE_SECONDS = 5.0  # retries of an unreachable Flex stop here, not after the worker's deadline
_URL = "FLEXBRIDGE_FLEX__BASE_URL"


def merchants(settings: Settings) -> list[tuple[str, FlexSettings]]:
    """Each merchant's name and Flex settings (one deployment has one merchant today)."""
    return [(settings.flex.mid or "default", settings.flex)]


def _failure(name: str, exc: FlexError) -> CheckResult:
    text = str(exc)
    if isinstance(exc, FlexAuthFailed):
        setting = named_settings(text) or "FLEXBRIDGE_FLEX__APP_KEY, FLEXBRIDGE_FLEX__APP_SECRET"
        fix = "use the app key and secret of this merchant's Flex portal (and its environment's base URL)"
        return CheckResult(name, False, f"Flex refused the credentials: {text}", setting, fix)
    fix = "check the URL (with its version segment, e.g. https://…/v1/) and that this host reaches it"
    return CheckResult(name, False, f"no token from Flex: {text}", _URL, fix)


async def _token(name: str, flex: FlexSettings) -> CheckResult:
    deadline = min(flex.deadline_seconds, DEADLINE_SECONDS)
    quick = flex.model_copy(update={"deadline_seconds": deadline, "timeout_seconds": deadline})
    async with FlexClient(quick) as client:
        try:
            await client.ensure_token()
        except FlexError as exc:
            return _failure(name, exc)
    return CheckResult(name, True, f"token granted by {flex.base_url}")


async def flex_checks(settings: Settings) -> list[CheckResult]:
    """One token fetch per merchant, one after the other."""
    return [await _token(f"flex token ({label})", flex) for label, flex in merchants(settings)]
