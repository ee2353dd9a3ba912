"""The merchants one flexbridge serves (DESIGN.md §2.9), and the rule that gives an event its merchant.

A payment processor runs one flexbridge for all its merchants: ``FLEXBRIDGE_MERCHANTS_FILE`` names
a TOML file of them (read by :mod:`core.merchants_file`). Without it, the single-merchant settings
(``FLEXBRIDGE_FLEX__*``, ``FLEXBRIDGE_SFTP__USERNAME`` / ``KEY_PATH``, ``FLEXBRIDGE_WEBHOOK__*``
keys, ``FLEXBRIDGE_ROUTING__*``) describe the one merchant, as they always have.

:func:`load_merchants` checks everything it can before anything connects; each problem is a
:class:`~core.config.ConfigError` naming the merchant and the field. Secrets are ``SecretStr``:
never in ``repr``, ``str`` or a JSON dump.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from core.config import ConfigError, env_name, require_flex_credentials
from core.merchants_file import (
    ENV_NAME,
    SECRET_FIELDS,
    entry_label,
    read_entries,
    read_secret_files,
    unknown_fields,
)
from core.routing import RoutingSettings
from core.settings import Settings
from core.urls import refuse_userinfo
from core.webhook_key import decode_key

__all__ = [
    "SINGLE_MERCHANT_NAME",
    "Merchant",
    "Merchants",
    "SftpAccount",
    "load_merchants",
    "mid_key",
    "single_merchant",
]

# The name of the merchant the single-merchant settings describe (metrics label, file names).
SINGLE_MERCHANT_NAME: Final = "default"

_frozen = ConfigDict(frozen=True, extra="forbid")
_KEYS: Final = ("subscriber_key", "previous_subscriber_key")  # webhook subscriber keys, checked alike


class SftpAccount(BaseModel):
    """A merchant's SFTP account; host, port, known_hosts and folders are global (FLEXBRIDGE_SFTP__*)."""

    model_config = _frozen

    username: str = Field(min_length=1)
    key_path: Path | None = None  # None only from the single-merchant settings (asyncssh's default keys)


class Merchant(BaseModel):
    """One merchant: its Flex credentials and defaults, routes, SFTP account and webhook keys."""

    model_config = _frozen

    # None only from single-merchant settings without FLEXBRIDGE_FLEX__MID: every event is its own
    # no "/": the order table keys an order by ``mid/orderId`` (consumers/order_keys.py)
    mid: str | None = Field(min_length=1, pattern=r"^[^/\s]+$")
    name: str = Field(pattern=r"^[a-z0-9-]+$")
    site_id: str | None = None
    app_key: SecretStr
    app_secret: SecretStr
    subscriber_key: SecretStr | None = None
    previous_subscriber_key: SecretStr | None = None  # during a key rotation
    # where each secret was read from (``<secret>_file``): read again when Flex refuses the app secret
    # or a delivery fails the signature check, so a secret rotated in the portal and then in the
    # mounted file is taken without a restart
    app_secret_file: Path | None = None
    subscriber_key_file: Path | None = None
    previous_subscriber_key_file: Path | None = None
    routing: RoutingSettings = RoutingSettings()
    sftp: SftpAccount | None = None
    webhook_url: str | None = None  # read by the sandbox only (where it posts this merchant's webhooks)

    @field_validator("app_key", "app_secret")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        return None if value is None else refuse_userinfo(value)

    @property
    def sftp_routes(self) -> list[str]:
        """The routing fields that send something by SFTP (``routing.mit``, ``routing.previous_mit`` …)."""
        return self.routing.sftp_routes


class Merchants:
    """The configured merchants, looked up by ``mid`` or ``name``; iterates in configured order."""

    __slots__ = ("_all", "_by_key", "_by_mid", "_by_name")

    def __init__(self, merchants: Iterable[Merchant]) -> None:
        self._all = tuple(merchants)
        if not self._all:
            raise ConfigError("no merchant is configured")
        self._by_mid: dict[str, Merchant] = {}
        self._by_name: dict[str, Merchant] = {}
        self._by_key: dict[bytes, str] = {}  # a webhook subscriber key → its merchant's name
        for merchant in self._all:
            self._add(merchant)

    def _add(self, merchant: Merchant) -> None:
        label = f'merchant "{merchant.name}"'
        if (other := self._by_name.get(merchant.name)) is not None:
            raise ConfigError(f"{label}: name: used by two merchants (mids {other.mid} and {merchant.mid})")
        if merchant.mid is None and len(self._all) > 1:
            raise ConfigError(f"{label}: mid: required when more than one merchant is configured")
        if merchant.mid is not None and (other := self._by_mid.get(mid_key(merchant.mid))) is not None:
            same = "" if other.mid == merchant.mid else f" ({other.mid}: a mid's case is not significant)"
            raise ConfigError(f'{label}: mid: {merchant.mid} is already merchant "{other.name}"\'s{same}')
        self._by_name[merchant.name] = merchant
        if merchant.mid is not None:
            self._by_mid[mid_key(merchant.mid)] = merchant
        self._add_keys(merchant, label)

    def _add_keys(self, merchant: Merchant, label: str) -> None:
        """A webhook subscriber key is one merchant's: a key two merchants share would verify one's
        webhooks on the other's path, and publish them as the other's orders (DESIGN.md §2.9)."""
        for field in _KEYS:
            key = getattr(merchant, field)
            if key is None or not key.get_secret_value().strip():
                continue
            try:
                raw = decode_key(key)
            except ValueError:  # refused where the merchant is read (_check_keys)
                continue
            other = self._by_key.setdefault(raw, merchant.name)
            if other != merchant.name:
                raise ConfigError(
                    f"{label}: {field}: the same key as merchant \"{other}\"'s; each merchant's webhooks "
                    "are signed with its own key (the portal's, of that merchant's account)"
                )

    def __iter__(self) -> Iterator[Merchant]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def __repr__(self) -> str:
        return f"Merchants({', '.join(m.name for m in self._all)})"

    @property
    def only(self) -> Merchant | None:
        """The merchant when exactly one is configured, else None."""
        return self._all[0] if len(self._all) == 1 else None

    def by_mid(self, mid: str) -> Merchant | None:
        """The merchant whose mid is ``mid``, in any case (:func:`mid_key`)."""
        return self._by_mid.get(mid_key(mid))

    def by_name(self, name: str) -> Merchant | None:
        return self._by_name.get(name)

    def routing_digest(self) -> str:
        """12 hex digits of what decides each record's way: every merchant's name, mid and routing.
        Workers whose digests differ can route a record apart (docs/processors.md "Changing a routing")."""
        parts = sorted((m.name, mid_key(m.mid or ""), m.routing.model_dump(mode="json")) for m in self._all)
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]

    def for_event(self, mid: str | None) -> Merchant | None:
        """The merchant of an event whose ``mid`` is ``mid``; None: ``unknown-merchant`` (to the DLQ).

        An event's ``mid`` selects its merchant. An event without one belongs to the merchant when
        exactly one is configured. A merchant without a mid (single-merchant settings without
        FLEXBRIDGE_FLEX__MID) takes every event, as flexbridge did before merchants. A mid matches
        in any case (:func:`mid_key`); the merchant's ``mid`` is its configured spelling.
        """
        only = self.only
        if only is not None and (only.mid is None or mid is None):
            return only
        return None if mid is None else self._by_mid.get(mid_key(mid))


def mid_key(mid: str) -> str:
    """What a mid is matched by: its text without case. Flex's MIDs are GUIDs, whose hex digits
    mean the same in either case; any other spelling of a GUID (``{…}``, ``(…)``, 32 digits without
    dashes) is a different text, and matches nothing (docs/processors.md)."""
    return mid.casefold()


def load_merchants(settings: Settings) -> Merchants:
    """The merchants of ``FLEXBRIDGE_MERCHANTS_FILE``, or the one the single-merchant settings describe."""
    path = settings.merchants_file
    if path is None:
        return Merchants([single_merchant(settings)])
    try:
        entries = read_entries(path)
        return Merchants(_from_entry(entry, i, settings.routing) for i, entry in enumerate(entries))
    except ConfigError as exc:
        raise ConfigError(f"invalid merchants file {ENV_NAME}={path}: {exc}") from None


def single_merchant(settings: Settings) -> Merchant:
    """The one merchant of the single-merchant settings (their credentials must be set)."""
    require_flex_credentials(settings)
    flex, hook, sftp = settings.flex, settings.webhook, settings.sftp
    previous = hook.previous_subscriber_key
    fields: dict[str, Any] = {
        "mid": flex.mid,
        "name": SINGLE_MERCHANT_NAME,
        "site_id": flex.site_id,
        "app_key": flex.app_key,
        "app_secret": flex.app_secret,
        "subscriber_key": hook.subscriber_key,
        # a blank previous key is no key, as for the webhook verifier
        "previous_subscriber_key": previous if previous and previous.get_secret_value().strip() else None,
        "routing": settings.routing,
        "sftp": {"username": sftp.username, "key_path": sftp.key_path},
    }
    names = {field: env_name(("webhook" if field in _KEYS else "flex", field)) for field in fields}
    names |= {f"sftp.{field}": env_name(("sftp", field)) for field in ("username", "key_path")}
    merchant = _validate(fields, "invalid configuration", names)
    _check_keys(merchant, {key: names[key] for key in _KEYS}, "invalid configuration")
    return merchant


def _from_entry(entry: dict[str, Any], index: int, routing: RoutingSettings) -> Merchant:
    label = entry_label(entry, index)
    fields = read_secret_files(entry, label)
    for field in SECRET_FIELDS:  # where each was read from (its path was checked by reading it)
        if isinstance(path := entry.get(f"{field}_file"), str):
            fields[f"{field}_file"] = Path(path)
    problems = unknown_fields(entry, Merchant.model_fields)  # a typo first: it may be why one is missing
    if "app_secret" not in fields:
        problems.append("app_secret: missing (set app_secret or app_secret_file)")
    if problems:
        raise ConfigError(f"{label}: " + "; ".join(problems))
    if "previous_subscriber_key" in fields and not str(fields["previous_subscriber_key"]).strip():
        del fields["previous_subscriber_key"]  # a blank previous key is no key
    given = fields.get("routing", {})
    if not isinstance(given, dict):
        raise ConfigError(f'{label}: routing: expected a table, e.g. routing = {{ mit = "api" }}')
    fields["routing"] = routing.model_dump() | given  # field by field over FLEXBRIDGE_ROUTING__*
    merchant = _validate(fields, label)
    _check_keys(merchant, {key: key + "_file" if key + "_file" in entry else key for key in _KEYS}, label)
    _check_sftp(merchant, label)
    return merchant


def _validate(fields: dict[str, Any], label: str, names: dict[str, str] | None = None) -> Merchant:
    """The Merchant of ``fields``; a problem names its field (or its setting, through ``names``)."""
    try:
        return Merchant.model_validate(fields)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            field = ".".join(str(part) for part in err["loc"])
            problems.append(f"{(names or {}).get(field, field)}: {err['msg']}")
        raise ConfigError(f"{label}: " + "; ".join(problems)) from None


def _check_keys(merchant: Merchant, names: dict[str, str], label: str) -> None:
    """Each webhook subscriber key must be the portal's: base64 of 64 bytes (the verifier's rule)."""
    for field, name in names.items():
        key = getattr(merchant, field)
        if key is None:
            continue
        try:
            decode_key(key, setting=name)
        except ValueError as exc:
            raise ConfigError(f"{label}: {exc}") from None


def _check_sftp(merchant: Merchant, label: str) -> None:
    routes = merchant.sftp_routes
    if routes and merchant.sftp is None:
        ways = ", ".join(f'{route} is "sftp"' for route in routes)
        raise ConfigError(f"{label}: sftp: required because {ways} (sftp = {{ username = …, key_path = … }})")
    if merchant.sftp is None:
        return
    if merchant.sftp.key_path is None:
        raise ConfigError(f"{label}: sftp.key_path: required (the merchant's SFTP private key file)")
    try:
        merchant.sftp.key_path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{label}: sftp.key_path: cannot read {merchant.sftp.key_path} ({type(exc).__name__})"
        ) from None
