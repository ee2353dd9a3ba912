"""Flex webhook signatures (flex-api.md §3.4): sign a delivery; verify one on its raw body.

:class:`WebhookVerifier` is pure (injectable clock, no I/O but what its ``keys_again`` does) and
lock-free: call ``verify`` from one event loop (it never awaits, so checking and recording a nonce
cannot interleave).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Final, Literal

from pydantic import SecretStr

from consumers.webhooks.headers import (
    AUTH_PREFIX,
    SIGNED_HEADERS,
    ParsedHeaders,
    RejectReason,
    WebhookRejected,
    parse_headers,
    read_headers,
    signed_message,
    string_to_sign,
)
from core.settings import WebhookSettings
from core.webhook_key import KEY_SETTING as _KEY_SETTING
from core.webhook_key import decode_key

__all__ = [
    "DEFAULT_NONCE_CACHE_SIZE",
    "SIGNED_HEADERS",
    "KeyName",
    "Keys",
    "NonceCache",
    "RejectReason",
    "Verified",
    "WebhookRejected",
    "WebhookVerifier",
    "decode_key",
    "http_date",
    "new_nonce",
    "sign",
    "string_to_sign",
]

_PREVIOUS_KEY_SETTING: Final = "FLEXBRIDGE_WEBHOOK__PREVIOUS_SUBSCRIBER_KEY"
DEFAULT_NONCE_CACHE_SIZE: Final = 50_000
KeyName = Literal["current", "previous"]
Keys = tuple[tuple[KeyName, bytes], ...]  # the keys a verifier takes, in the order tried


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _reveal(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha512).digest()


def new_nonce() -> str:
    """A fresh ``x-fc-nonce``: 32 random lowercase hex characters."""
    return secrets.token_hex(16)


def http_date(dt: datetime | None = None) -> str:
    """An RFC 1123 date in GMT (``Mon, 20 Mar 2023 17:16:40 GMT``) of ``dt`` (aware) or of now."""
    moment = datetime.now(UTC) if dt is None else dt
    if moment.tzinfo is None:
        raise ValueError("http_date needs a timezone-aware datetime")
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def sign(
    body: bytes, *, key_b64: str, method: str = "POST", host: str, date: str, nonce: str
) -> dict[str, str]:
    """The five ``x-fc-*`` headers Flex sends with ``body`` (the HTTP client adds ``Host``)."""
    key = decode_key(key_b64, setting="subscriber key (key_b64)")
    digest = _b64(hashlib.sha512(body).digest())
    message = string_to_sign(method, nonce, date, host, digest).encode("utf-8")
    return {
        "x-fc-authorization": AUTH_PREFIX + _b64(_hmac(key, message)),
        "x-fc-content-sha512": digest,
        "x-fc-date": date,
        "x-fc-nonce": nonce,
        "x-fc-signature": _b64(_hmac(key, body)),
    }


@dataclass(frozen=True, slots=True)
class Verified:
    """A delivery that passed: which key signed it, its nonce (lowercase) and its ``x-fc-date``."""

    key: KeyName
    nonce: str
    date: datetime


class NonceCache:
    """Recent nonces, each kept ``ttl_seconds`` (None: forever); at most ``max_entries``, oldest out first."""

    def __init__(self, *, ttl_seconds: float | None, max_entries: int = DEFAULT_NONCE_CACHE_SIZE) -> None:
        if max_entries < 1:
            raise ValueError("the nonce cache needs room for at least one nonce")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    def add(self, nonce: str, now: float) -> bool:
        """Record ``nonce`` at ``now`` (epoch seconds); False, recording nothing, if already held."""
        while self._expiry and next(iter(self._expiry.values())) <= now:
            self._expiry.popitem(last=False)  # entries expire in insertion order
        if nonce in self._expiry:
            return False
        self._expiry[nonce] = float("inf") if self._ttl is None else now + self._ttl
        if len(self._expiry) > self._max:
            self._expiry.popitem(last=False)
        return True

    def discard(self, nonce: str) -> None:
        """Forget ``nonce`` (lowercase), e.g. when its delivery was answered 503 and may be sent again."""
        self._expiry.pop(nonce, None)


class WebhookVerifier:
    """Verifies deliveries against the current and, during a rotation, the previous subscriber key.

    ``x-fc-date`` may be ``max_skew_seconds`` (0: unchecked) either side of ``clock()`` (epoch seconds).
    Nonces are kept 2 × skew (forever when unchecked), at most ``nonce_cache_size``, oldest out first.
    """

    def __init__(
        self,
        subscriber_key: str | SecretStr,
        previous_subscriber_key: str | SecretStr | None = None,
        *,
        max_skew_seconds: int = 300,
        clock: Callable[[], float] = time.time,
        nonce_cache_size: int = DEFAULT_NONCE_CACHE_SIZE,
        keys_again: Callable[[Keys], Keys | None] | None = None,
    ) -> None:
        """``keys_again(keys in use)``: new keys to try when a delivery fails the signature check,
        or None to keep these (consumers/webhooks/key_files.py: the merchant's key files read again)."""
        if max_skew_seconds < 0:
            raise ValueError("FLEXBRIDGE_WEBHOOK__MAX_SKEW_SECONDS must be >= 0 (0 disables the date check)")
        keys: list[tuple[KeyName, bytes]] = [("current", decode_key(subscriber_key))]
        if previous_subscriber_key is not None and _reveal(previous_subscriber_key).strip():
            keys.append(("previous", decode_key(previous_subscriber_key, setting=_PREVIOUS_KEY_SETTING)))
        self._keys: Keys = tuple(keys)
        self._keys_again = keys_again
        self._max_skew = max_skew_seconds
        self._clock = clock
        ttl = 2.0 * max_skew_seconds if max_skew_seconds else None
        self._nonces = NonceCache(ttl_seconds=ttl, max_entries=nonce_cache_size)

    @classmethod
    def from_settings(
        cls,
        settings: WebhookSettings,
        *,
        clock: Callable[[], float] = time.time,
        nonce_cache_size: int = DEFAULT_NONCE_CACHE_SIZE,
    ) -> WebhookVerifier:
        if (key := settings.subscriber_key) is None:
            raise ValueError(f"{_KEY_SETTING} is not set (the portal's webhook subscriber key)")
        skew, previous = settings.max_skew_seconds, settings.previous_subscriber_key
        return cls(key, previous, max_skew_seconds=skew, clock=clock, nonce_cache_size=nonce_cache_size)

    @property
    def nonces(self) -> NonceCache:
        return self._nonces

    def verify(self, method: str, host: str, headers: Mapping[str, str], body: bytes) -> Verified:
        """Check a delivery's raw ``body``; ``host``: the Host header as received. Raises WebhookRejected."""
        fields = read_headers(headers)
        if not (host := host.strip()):
            raise WebhookRejected("missing-header", "missing host")
        parsed = parse_headers(fields)
        if not hmac.compare_digest(hashlib.sha512(body).digest(), parsed.content_hash):
            raise WebhookRejected("content-hash", "x-fc-content-sha512 does not match the body")
        message = signed_message(method, host, fields)
        try:
            key_name = self._match_key(message, parsed, body)
        except WebhookRejected as exc:
            if (
                exc.reason != "signature"
                or self._keys_again is None
                or not (keys := self._keys_again(self._keys))
            ):
                raise
            self._keys = keys  # rotated in the key files meanwhile
            key_name = self._match_key(message, parsed, body)
        now = self._clock()
        self._check_date(parsed.date, now)
        if not self._nonces.add(parsed.nonce, now):
            raise WebhookRejected("replayed-nonce", "x-fc-nonce was already used")
        return Verified(key=key_name, nonce=parsed.nonce, date=parsed.date)

    def holds(self, raw: bytes) -> bool:
        """Whether ``raw`` is one of the keys this verifier takes."""
        return any(hmac.compare_digest(raw, key) for _, key in self._keys)

    def _match_key(self, message: bytes, parsed: ParsedHeaders, body: bytes) -> KeyName:
        matched: tuple[KeyName, bytes] | None = None
        for name, key in self._keys:  # every key is tried: no early exit
            if hmac.compare_digest(_hmac(key, message), parsed.authorization) and matched is None:
                matched = (name, key)
        if matched is None:
            raise WebhookRejected("signature", "x-fc-authorization does not match the subscriber key")
        if not hmac.compare_digest(_hmac(matched[1], body), parsed.body_signature):
            raise WebhookRejected("signature", "x-fc-signature does not match the body")
        return matched[0]

    def _check_date(self, date: datetime, now: float) -> None:
        if self._max_skew == 0:
            return
        skew = date.timestamp() - now
        if abs(skew) > self._max_skew:
            side = "ahead of" if skew > 0 else "behind"
            message = f"x-fc-date is {abs(skew):.0f}s {side} the local clock (max {self._max_skew}s)"
            raise WebhookRejected("stale-date", message)
