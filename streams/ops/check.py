"""``flexbridge check``: a preflight of the worker's settings against the real Kafka, Flex and SFTP.

Each check gives one :class:`CheckResult`; a failure names the setting to change and the fix. Here
the settings' checks; Kafka's, Flex's, SFTP's and the webhook keys' have a module each
(``check_kafka``, ``check_flex``, ``check_sftp``, ``check_sftp_merchants``, ``check_webhooks``),
and ``check_cli`` runs them in order: one that others depend on (the settings, the broker) stops
those.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from pydantic_settings import SettingsError

from core.config import ConfigError, env_name, unknown_variables, unparsed_setting
from core.merchants import SINGLE_MERCHANT_NAME, Merchants, load_merchants, single_merchant
from core.merchants_file import ENV_NAME
from core.routing import RoutingSettings, utc_text
from core.settings import Settings

__all__ = ["CheckResult", "named_settings", "routing_changes", "settings_checks"]

_SETTING = re.compile(r"FLEXBRIDGE_[A-Z0-9_]*[A-Z0-9]")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the preflight: what was checked, whether it passed, and for a failure what to do."""

    name: str
    ok: bool
    detail: str
    setting: str | None = None
    fix: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "result": "PASS" if self.ok else "FAIL",
            "detail": self.detail,
            "setting": self.setting,
            "fix": self.fix,
        }


def named_settings(text: str) -> str | None:
    """The ``FLEXBRIDGE_…`` names a flexbridge error message cites, comma-separated (None if none)."""
    names = list(dict.fromkeys(_SETTING.findall(text)))
    return ", ".join(names) if names else None


def settings_checks() -> tuple[Settings | None, Merchants | None, list[CheckResult]]:
    """The settings from the environment (as the worker reads them), the merchants of its merchants
    file (None without one, or when it does not load: the later checks take them from here) and one
    result per bad value."""
    unknown = unknown_variables(os.environ)
    if unknown:
        fix = "unset it, or correct its name (docs/configuration.md lists each setting)"
        return None, None, [CheckResult("settings", False, p, p.split(":")[0], fix) for p in unknown]
    try:
        settings = Settings()
    except SettingsError as exc:
        name, problem = unparsed_setting(exc)
        return None, None, [CheckResult("settings", False, problem, name, "set a valid value or unset it")]
    except ValidationError as exc:
        failed = [
            CheckResult(
                "settings",
                False,
                str(err["msg"]),
                env_name(err["loc"]) if err["loc"] else named_settings(str(err["msg"])),  # across settings
                "set a valid value (docs/configuration.md lists each setting)",
            )
            for err in exc.errors(include_url=False, include_input=False)
        ]
        return None, None, failed
    if settings.merchants_file is not None:
        return settings, *_merchants_checks(settings)
    try:
        single_merchant(settings)  # as the worker reads them: set, and not blank
    except ConfigError as exc:
        fix = "set the value the message names (the app key and secret: the merchant's Flex portal's)"
        return settings, None, [CheckResult("settings", False, str(exc), named_settings(str(exc)), fix)]
    valid = CheckResult("settings", True, "every value is valid")
    return settings, None, [valid, *routing_changes([(SINGLE_MERCHANT_NAME, settings.routing)])]


def _merchants_checks(settings: Settings) -> tuple[Merchants | None, list[CheckResult]]:
    """With a merchants file, its merchants (as the worker loads them) replace FLEXBRIDGE_FLEX__*'s."""
    try:
        served = load_merchants(settings)
    except ConfigError as exc:
        fix = "fix the merchant and field the message names (docs/processors.md)"
        return None, [CheckResult("settings", False, str(exc), ENV_NAME, fix)]
    valid = CheckResult("settings", True, f"every value is valid; {ENV_NAME} lists {len(served)} merchant(s)")
    return served, [valid, *routing_changes((m.name, m.routing) for m in served)]


def routing_changes(
    routings: Iterable[tuple[str, RoutingSettings]], now: datetime | None = None
) -> list[CheckResult]:
    """A line for each merchant (name, routing) whose routing changes at ``since`` (docs/processors.md
    "Changing a routing"): the routes before and after, in UTC, and how far off the moment is."""
    now = now or datetime.now(UTC)
    lines = []
    for name, routing in routings:
        since = routing.since
        if since is None:
            continue
        if (routing.previous_mit, routing.previous_transmit) == (routing.mit, routing.transmit):
            unchanged = (
                f"since {utc_text(since)} changes nothing: mit {routing.mit}, transmit {routing.transmit}"
            )
            hint = 'a change from sftp names it: previous_mit / previous_transmit = "sftp"'
            lines.append(CheckResult(f"routing ({name})", True, f"{unchanged} before and after ({hint})"))
            continue
        left = (since - now).total_seconds()
        when = (
            f"in {left / 3600:.1f} h: every worker must run these settings by then"
            if left > 0
            else "passed: every record produced now goes the new way"
        )
        lines.append(CheckResult(f"routing ({name})", True, f"{routing.describe()} ({when})"))
    return lines
