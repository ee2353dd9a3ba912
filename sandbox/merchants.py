"""The merchants file (TOML, read with ``tomllib``): the merchants a multi-merchant sandbox serves.

The same file flexbridge reads (``FLEXBRIDGE_MERCHANTS_FILE``); the sandbox takes from each
``[[merchants]]`` entry its ``name``, ``mid``, ``app_key``, ``app_secret`` (or ``app_secret_file``),
``subscriber_key`` (or ``subscriber_key_file``), ``sftp = {username, key_path}`` (it authorises
``key_path + ".pub"`` for that username) and ``webhook_url``, and ignores the rest (routing, site id,
previous subscriber key). A secret read from a ``*_file`` has surrounding whitespace stripped.
"""

from __future__ import annotations

import base64
import binascii
import re
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import asyncssh
from pydantic import BaseModel, ConfigDict, SecretStr

__all__ = ["Merchant", "MerchantBook", "MerchantsFileError", "load_merchants", "parse_merchants"]

_NAME = re.compile(r"^[a-z0-9-]+$")


class MerchantsFileError(ValueError):
    """The merchants file cannot be used; the message names the merchant and the field."""


class Merchant(BaseModel):
    """One merchant as the sandbox knows it (Flex's credentials, SFTP account and webhook key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    mid: str
    app_key: str
    app_secret: SecretStr
    subscriber_key: SecretStr | None = None
    sftp_username: str | None = None
    sftp_public_key: Path | None = None
    webhook_url: str | None = None

    def answers_to(self, names: Iterable[str]) -> bool:
        """Whether one of ``names`` is this merchant's name or its MID (any casing)."""
        wanted = {name.lower() for name in names}
        return self.name in wanted or self.mid.lower() in wanted


class MerchantBook:
    """The merchants by app key, MID, name and SFTP username.

    ``strict`` is multi-merchant mode: a call's body ``mid`` and a batch file's header must then be
    the authenticated merchant's. With one implicit merchant (no merchants file) nothing is checked.
    """

    def __init__(self, merchants: Sequence[Merchant], *, strict: bool) -> None:
        self.all = tuple(merchants)
        self.strict = strict
        self._by_key = {m.app_key: m for m in self.all}
        self._by_mid = {m.mid.lower(): m for m in self.all}
        self._by_name = {m.name: m for m in self.all}

    def by_app_key(self, app_key: object) -> Merchant | None:
        return self._by_key.get(app_key) if isinstance(app_key, str) else None

    def by_mid(self, mid: str | None) -> Merchant | None:
        return None if mid is None else self._by_mid.get(mid.lower())

    def by_name(self, name: str) -> Merchant | None:
        return self._by_name.get(name)

    def owner(self, mid: str | None) -> Merchant | None:
        """The merchant of an order's ``mid``; without a merchants file, the one merchant."""
        found = self.by_mid(mid)
        if found is None and not self.strict and len(self.all) == 1:
            return self.all[0]
        return found

    def unknown(self, names: Iterable[str]) -> list[str]:
        """The entries of ``names`` that are no merchant's name or MID."""
        return [name for name in names if not any(m.answers_to([name]) for m in self.all)]


def load_merchants(path: Path) -> tuple[Merchant, ...]:
    """Read and check the merchants file at ``path``."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MerchantsFileError(f"merchants file {path}: cannot read it: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise MerchantsFileError(f"merchants file {path}: not valid TOML: {exc}") from exc
    try:
        return parse_merchants(document)
    except MerchantsFileError as exc:
        raise MerchantsFileError(f"merchants file {path}: {exc}") from exc


def parse_merchants(document: dict[str, Any]) -> tuple[Merchant, ...]:
    """The ``[[merchants]]`` entries of a parsed file, checked: required fields, unique names,
    MIDs, app keys and SFTP usernames, readable secret and key files, 64-byte subscriber keys."""
    entries = document.get("merchants")
    if not isinstance(entries, list) or not entries:
        raise MerchantsFileError("no [[merchants]] entries")
    merchants = tuple(_merchant(position, entry) for position, entry in enumerate(entries, start=1))
    for field, value_of in (
        ("name", lambda m: m.name),
        ("mid", lambda m: m.mid.lower()),
        ("app_key", lambda m: m.app_key),
        ("sftp.username", lambda m: m.sftp_username),
    ):
        _unique(merchants, field, value_of)
    return merchants


def _unique(merchants: Sequence[Merchant], field: str, value_of: Any) -> None:
    seen: dict[object, str] = {}
    for merchant in merchants:
        value = value_of(merchant)
        if value is None:
            continue
        if value in seen:
            raise MerchantsFileError(f"merchant {merchant.name!r}: {field}: the same as {seen[value]!r}'s")
        seen[value] = merchant.name


def _merchant(position: int, entry: Any) -> Merchant:
    if not isinstance(entry, dict):
        raise MerchantsFileError(f"merchant #{position}: not a table")
    label = (
        f"merchant {entry.get('name')!r}" if isinstance(entry.get("name"), str) else f"merchant #{position}"
    )
    try:
        return _build(entry)
    except MerchantsFileError as exc:
        raise MerchantsFileError(f"{label}: {exc}") from exc


def _build(entry: dict[str, Any]) -> Merchant:
    name = _text(entry, "name")
    if not _NAME.match(name):
        raise MerchantsFileError("name: only lower-case letters, digits and '-'")
    secret = _secret(entry, "app_secret", required=True)
    subscriber = _secret(entry, "subscriber_key", required=False)
    if subscriber is not None:
        _check_subscriber_key(subscriber)
    username, public_key = _sftp(entry.get("sftp"))
    url = entry.get("webhook_url")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise MerchantsFileError("webhook_url: must be an http(s) URL")
    return Merchant(
        name=name,
        mid=_text(entry, "mid"),
        app_key=_text(entry, "app_key"),
        app_secret=SecretStr(secret or ""),
        subscriber_key=None if subscriber is None else SecretStr(subscriber),
        sftp_username=username,
        sftp_public_key=public_key,
        webhook_url=url,
    )


def _text(entry: dict[str, Any], field: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value.strip():
        raise MerchantsFileError(f"{field}: required (a non-empty string)")
    return value.strip()


def _secret(entry: dict[str, Any], field: str, *, required: bool) -> str | None:
    inline, file = entry.get(field), entry.get(f"{field}_file")
    if inline is not None and file is not None:
        raise MerchantsFileError(f"{field}: give {field} or {field}_file, not both")
    if file is not None:
        if not isinstance(file, str):
            raise MerchantsFileError(f"{field}_file: must be a path")
        try:
            inline = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise MerchantsFileError(f"{field}_file: cannot read {file}: {exc.strerror or exc}") from exc
    if inline is None and not required:
        return None
    if not isinstance(inline, str) or not inline.strip():
        raise MerchantsFileError(f"{field}: required ({field} or {field}_file)")
    return inline.strip()


def _check_subscriber_key(key: str) -> None:
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MerchantsFileError("subscriber_key: must be base64") from exc
    if len(raw) != 64:
        raise MerchantsFileError(f"subscriber_key: must decode to 64 bytes, got {len(raw)}")


def _sftp(table: Any) -> tuple[str | None, Path | None]:
    if table is None:
        return None, None
    if not isinstance(table, dict):
        raise MerchantsFileError("sftp: must be a table {username, key_path}")
    username = _text(table, "username")
    key_path = table.get("key_path")
    if not isinstance(key_path, str) or not key_path.strip():
        raise MerchantsFileError("sftp.key_path: required")
    public = Path(key_path + ".pub")
    try:
        asyncssh.read_public_key(public)
    except (OSError, asyncssh.KeyImportError) as exc:
        raise MerchantsFileError(f"sftp.key_path: cannot read the public key {public}: {exc}") from exc
    return username, public
