"""Whose Flex calls these are: one merchant's credentials and defaults, and the observers of its calls.

A :class:`~consumers.flex.client.FlexClient` calls Flex as one merchant. The single-merchant settings
(``FLEXBRIDGE_FLEX__APP_KEY`` / ``APP_SECRET`` / ``MID`` / ``SITE_ID``) describe one; a
:class:`~core.merchants.Merchant` of the merchants file (DESIGN.md §2.9) describes another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from consumers.flex.engine import CallObserver, RetryObserver
from consumers.flex.errors import FlexAuthFailed
from core.merchants import SINGLE_MERCHANT_NAME, Merchant
from core.merchants_file import read_secret_again
from core.settings import FlexSettings

__all__ = ["SETTINGS_HINT", "Credentials", "FlexObservers", "ObserversFor", "TokenObserver"]

SETTINGS_HINT = "check FLEXBRIDGE_FLEX__APP_KEY / FLEXBRIDGE_FLEX__APP_SECRET"
TokenObserver = Callable[[str], None]


def _secret(value: SecretStr | None) -> SecretStr | None:
    """An optional ``SecretStr``, None also when empty (an unset credential)."""
    return value if value is not None and value.get_secret_value() else None


@dataclass(frozen=True, slots=True)
class Credentials:
    """A merchant's name (metrics label), Flex app credentials and the defaults of its bodies.

    The app key and secret stay ``SecretStr`` (as in the settings and the merchants file) up to
    :meth:`token_body`, the one place they are read: no log line, ``repr`` or dump of these
    credentials can show them.
    """

    name: str
    app_key: SecretStr | None
    app_secret: SecretStr | None
    mid: str | None
    site_id: str | None = None
    hint: str = field(default=SETTINGS_HINT, compare=False)  # where a refused credential is set
    secret_file: Path | None = None  # the merchants file's app_secret_file: read again on a refusal

    @classmethod
    def of_settings(cls, flex: FlexSettings) -> Credentials:
        key, secret = _secret(flex.app_key), _secret(flex.app_secret)
        return cls(SINGLE_MERCHANT_NAME, key, secret, flex.mid, flex.site_id)

    @classmethod
    def of_merchant(cls, merchant: Merchant) -> Credentials:
        hint = f'check merchant "{merchant.name}"\'s app_key / app_secret'
        key, secret = _secret(merchant.app_key), _secret(merchant.app_secret)
        return cls(merchant.name, key, secret, merchant.mid, merchant.site_id, hint, merchant.app_secret_file)

    @property
    def complete(self) -> bool:
        return self.app_key is not None and self.app_secret is not None

    def secret_now(self) -> SecretStr | None:
        """The app secret in :attr:`secret_file` now (None without one, or when it cannot be read)."""
        if self.secret_file is None:
            return None
        text = read_secret_again(self.secret_file)
        return None if text is None else SecretStr(text)

    def token_body(self, secret: SecretStr | None = None) -> dict[str, str]:
        """The ``/oauth2/token`` body, with ``secret`` instead of :attr:`app_secret` when given (a
        FlexRequest keeps its body out of its ``repr``); :class:`FlexAuthFailed` naming what is missing."""
        secret = secret or self.app_secret
        if self.app_key is None or secret is None:
            if self.hint != SETTINGS_HINT:
                raise FlexAuthFailed(f"Flex credentials missing: {self.hint.removeprefix('check ')}")
            names = (
                ("FLEXBRIDGE_FLEX__APP_KEY", self.app_key),
                ("FLEXBRIDGE_FLEX__APP_SECRET", self.app_secret),
            )
            missing = " and ".join(n for n, value in names if value is None)
            raise FlexAuthFailed(f"Flex credentials missing: set {missing}")
        return {"AppKey": self.app_key.get_secret_value(), "AppSecret": secret.get_secret_value()}


@dataclass(frozen=True, slots=True)
class FlexObservers:
    """What hears one merchant's calls: after every attempt, before every backoff, after every token fetch."""

    on_call: CallObserver | None = None
    on_retry: RetryObserver | None = None
    on_token: TokenObserver | None = None


# The observers of a merchant's calls, by its name (e.g. metrics labelled with the merchant).
ObserversFor = Callable[[str], FlexObservers]
