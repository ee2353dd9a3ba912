"""Flex webhook signatures (flex-api.md §3.4): sign a delivery; verify one on its raw body.

:class:`WebhookVerifier` is pure (injectable clock, no I/O) and lock-free: call ``verify`` from one
event loop (it never awaits, so checking and recording a nonce cannot interleave).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Final, Literal

from pydantic import SecretStr

from schemas.errors import FlexbridgeError
from schemas.settings import WebhookSettings

__all__ = [
    "DEFAULT_NONCE_CACHE_SIZE",
    "SIGNED_HEADERS",
    "KeyName",
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

SIGNED_HEADERS = ("x-fc-authorization", "x-fc-content-sha512", "x-fc-date", "x-fc-nonce", "x-fc-signature")
_AUTH_PREFIX: Final = "HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512&Signature="
_NONCE_RE: Final = re.compile(r"[0-9a-fA-F]{32}")
_KEY_SETTING: Final = "FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY"
_PREVIOUS_KEY_SETTING: Final = "FLEXBRIDGE_WEBHOOK__PREVIOUS_SUBSCRIBER_KEY"
DEFAULT_NONCE_CACHE_SIZE: Final = 50_000
KeyName = Literal["current", "previous"]
RejectReason = Literal[
    "missing-header", "bad-header", "content-hash", "signature", "stale-date", "replayed-nonce"
]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _reveal(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha512).digest()


def decode_key(key: str | SecretStr, *, setting: str = _KEY_SETTING) -> bytes:
    """The raw bytes of a base64 subscriber key; a clear ``ValueError`` naming ``setting`` otherwise."""
    raw = _b64decode(_reveal(key).strip())
    if not raw:
        raise ValueError(f"{setting} is empty or not valid base64 (the portal subscriber key, 64 bytes)")
    if len(raw) != 64:
        raise ValueError(f"{setting} must decode to 64 bytes, got {len(raw)}")
    return raw


def string_to_sign(method: str, nonce: str, date: str, host: str, content_hash: str) -> str:
    """The message behind ``x-fc-authorization``: ``METHOD\\nnonce;date;host;contentSha512``."""
    return f"{method.upper()}\n{nonce};{date};{host};{content_hash}"


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
        "x-fc-authorization": _AUTH_PREFIX + _b64(_hmac(key, message)),
        "x-fc-content-sha512": digest,
        "x-fc-date": date,
        "x-fc-nonce": nonce,
        "x-fc-signature": _b64(_hmac(key, body)),
    }


class WebhookRejected(FlexbridgeError):
    """A delivery that failed verification (``reason``: a :data:`RejectReason`); answer ``status_code``."""

    retriable = False
    status_code: int = 401

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(f"webhook rejected ({reason}): {message}", retriable=False, reason=reason)


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


@dataclass(frozen=True, slots=True)
class _Parsed:
    authorization: bytes
    content_hash: bytes
    body_signature: bytes
    date: datetime
    nonce: str


def _read_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The five ``x-fc-*`` values, looked up case-insensitively (multi-dicts: repeats must agree)."""
    found: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname not in SIGNED_HEADERS:
            continue
        if lname in found and found[lname] != value.strip():
            raise WebhookRejected("bad-header", f"{lname} appears more than once with different values")
        found[lname] = value.strip()
    missing = [name for name in SIGNED_HEADERS if not found.get(name)]
    if missing:
        raise WebhookRejected("missing-header", f"missing {', '.join(missing)}")
    return found


def _digest_header(name: str, value: str) -> bytes:
    raw = _b64decode(value)
    if raw is None or len(raw) != 64:
        raise WebhookRejected("bad-header", f"{name} is not a base64 SHA-512 value")
    return raw


@functools.lru_cache(maxsize=256)  # deliveries within a second share their x-fc-date
def _parse_date(value: str) -> datetime:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise WebhookRejected("bad-header", "x-fc-date is not an RFC 1123 date") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _parse(fields: Mapping[str, str]) -> _Parsed:
    authorization = fields["x-fc-authorization"]
    if not authorization.startswith(_AUTH_PREFIX):
        raise WebhookRejected("bad-header", f"x-fc-authorization is not '{_AUTH_PREFIX}<base64>'")
    if not _NONCE_RE.fullmatch(fields["x-fc-nonce"]):
        raise WebhookRejected("bad-header", "x-fc-nonce is not 32 hex characters")
    return _Parsed(
        authorization=_digest_header("x-fc-authorization", authorization[len(_AUTH_PREFIX) :]),
        content_hash=_digest_header("x-fc-content-sha512", fields["x-fc-content-sha512"]),
        body_signature=_digest_header("x-fc-signature", fields["x-fc-signature"]),
        date=_parse_date(fields["x-fc-date"]),
        nonce=fields["x-fc-nonce"].lower(),
    )


def _signed_message(method: str, nonce: str, date: str, host: str, content_hash: str) -> bytes:
    """The bytes the sender signed. Header text decoded with ``surrogateescape`` (aiohttp's way for
    bytes that are not UTF-8) is encoded back to the bytes received; other text is refused."""
    try:
        return string_to_sign(method, nonce, date, host, content_hash).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise WebhookRejected("bad-header", "a signed header is not text") from None


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
    ) -> None:
        if max_skew_seconds < 0:
            raise ValueError("FLEXBRIDGE_WEBHOOK__MAX_SKEW_SECONDS must be >= 0 (0 disables the date check)")
        keys: list[tuple[KeyName, bytes]] = [("current", decode_key(subscriber_key))]
        if previous_subscriber_key is not None and _reveal(previous_subscriber_key).strip():
            keys.append(("previous", decode_key(previous_subscriber_key, setting=_PREVIOUS_KEY_SETTING)))
        self._keys: tuple[tuple[KeyName, bytes], ...] = tuple(keys)
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
        fields = _read_headers(headers)
        if not host.strip():
            raise WebhookRejected("missing-header", "missing host")
        parsed = _parse(fields)
        if not hmac.compare_digest(hashlib.sha512(body).digest(), parsed.content_hash):
            raise WebhookRejected("content-hash", "x-fc-content-sha512 does not match the body")
        nonce, date, content = fields["x-fc-nonce"], fields["x-fc-date"], fields["x-fc-content-sha512"]
        message = _signed_message(method, nonce, date, host.strip(), content)
        key_name = self._match_key(message, parsed, body)
        now = self._clock()
        self._check_date(parsed.date, now)
        if not self._nonces.add(parsed.nonce, now):
            raise WebhookRejected("replayed-nonce", "x-fc-nonce was already used")
        return Verified(key=key_name, nonce=parsed.nonce, date=parsed.date)

    def _match_key(self, message: bytes, parsed: _Parsed, body: bytes) -> KeyName:
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
