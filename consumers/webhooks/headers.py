"""The ``x-fc-*`` headers of a Flex webhook delivery (flex-api.md §3.4): read, parse, refuse.

Pure helpers of :mod:`consumers.webhooks.signature`: each delivery's headers are read once (one
lookup per signed header on aiohttp's case-insensitive multi-dict), parsed once, and anything
malformed becomes a :class:`WebhookRejected` naming the reason (HTTP 401 at the receiver).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, Literal

from multidict import CIMultiDict, CIMultiDictProxy

from core.errors import FlexbridgeError

__all__ = [
    "AUTH_PREFIX",
    "SIGNED_HEADERS",
    "ParsedHeaders",
    "RejectReason",
    "WebhookRejected",
    "b64decode",
    "parse_headers",
    "read_headers",
    "signed_message",
    "string_to_sign",
]

SIGNED_HEADERS = ("x-fc-authorization", "x-fc-content-sha512", "x-fc-date", "x-fc-nonce", "x-fc-signature")
AUTH_PREFIX: Final = "HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512&Signature="
_NONCE_RE: Final = re.compile(r"[0-9a-fA-F]{32}")
RejectReason = Literal[
    "missing-header", "bad-header", "content-hash", "signature", "stale-date", "replayed-nonce"
]


class WebhookRejected(FlexbridgeError):
    """A delivery that failed verification (``reason``: a :data:`RejectReason`); answer ``status_code``."""

    retriable = False
    status_code: int = 401

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(f"webhook rejected ({reason}): {message}", retriable=False, reason=reason)


@dataclass(frozen=True, slots=True)
class ParsedHeaders:
    """The five signed headers, decoded."""

    authorization: bytes
    content_hash: bytes
    body_signature: bytes
    date: datetime
    nonce: str  # lowercase


def b64decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def string_to_sign(method: str, nonce: str, date: str, host: str, content_hash: str) -> str:
    """The message behind ``x-fc-authorization``: ``METHOD\\nnonce;date;host;contentSha512``."""
    return f"{method.upper()}\n{nonce};{date};{host};{content_hash}"


def _agreed(name: str, values: list[str]) -> str:
    first = values[0].strip() if values else ""
    if any(v.strip() != first for v in values[1:]):
        raise WebhookRejected("bad-header", f"{name} appears more than once with different values")
    return first


def read_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The five ``x-fc-*`` values, looked up case-insensitively (multi-dicts: repeats must agree)."""
    if isinstance(headers, CIMultiDict | CIMultiDictProxy):  # aiohttp's: one lookup per header
        found = {name: _agreed(name, headers.getall(name, [])) for name in SIGNED_HEADERS}
    else:
        grouped: dict[str, list[str]] = {}
        for name, value in headers.items():
            if (lname := name.lower()) in SIGNED_HEADERS:
                grouped.setdefault(lname, []).append(value)
        found = {name: _agreed(name, grouped.get(name, [])) for name in SIGNED_HEADERS}
    missing = [name for name in SIGNED_HEADERS if not found[name]]
    if missing:
        raise WebhookRejected("missing-header", f"missing {', '.join(missing)}")
    return found


def _digest_header(name: str, value: str) -> bytes:
    raw = b64decode(value)
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


def parse_headers(fields: Mapping[str, str]) -> ParsedHeaders:
    """Decode the fields :func:`read_headers` gave; :class:`WebhookRejected` if one is malformed."""
    authorization = fields["x-fc-authorization"]
    if not authorization.startswith(AUTH_PREFIX):
        raise WebhookRejected("bad-header", f"x-fc-authorization is not '{AUTH_PREFIX}<base64>'")
    if not _NONCE_RE.fullmatch(fields["x-fc-nonce"]):
        raise WebhookRejected("bad-header", "x-fc-nonce is not 32 hex characters")
    return ParsedHeaders(
        authorization=_digest_header("x-fc-authorization", authorization[len(AUTH_PREFIX) :]),
        content_hash=_digest_header("x-fc-content-sha512", fields["x-fc-content-sha512"]),
        body_signature=_digest_header("x-fc-signature", fields["x-fc-signature"]),
        date=_parse_date(fields["x-fc-date"]),
        nonce=fields["x-fc-nonce"].lower(),
    )


def signed_message(method: str, host: str, fields: Mapping[str, str]) -> bytes:
    """The bytes the sender signed. Header text decoded with ``surrogateescape`` (aiohttp's way for
    bytes that are not UTF-8) is encoded back to the bytes received; other text is refused."""
    nonce, date, content = fields["x-fc-nonce"], fields["x-fc-date"], fields["x-fc-content-sha512"]
    try:
        return string_to_sign(method, nonce, date, host, content).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise WebhookRejected("bad-header", "a signed header is not text") from None
