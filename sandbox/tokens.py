"""Bearer tokens (JWT-like, remembered with their expiry) and the card vault behind /tokenize."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

import orjson

__all__ = ["AUDIENCE", "CardInfo", "CardVault", "IssuedToken", "TokenStore"]

AUDIENCE = ("payments", "orders", "merchants", "eligibility-sftp", "eligibility", "contact")
_PRUNE_ABOVE = 1024


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    refresh_token: str
    expires_ms: int
    token_id: str


class TokenStore:
    """Issues HS256 JWT-shaped access tokens and accepts only those it issued and not yet expired."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._secret = secrets.token_bytes(32)
        self._issued: dict[str, tuple[float, str]] = {}  # token -> (expiry, the merchant's MID)

    def issue(self, app_key: str, mid: str) -> IssuedToken:
        """A token for ``app_key``, bound to the merchant's ``mid`` (its ``custom:mid`` claim)."""
        now = time.time()
        expires = now + self._ttl
        token_id = str(uuid.uuid4())
        claims = {
            "sub": token_id,
            "unique_name": app_key,
            "jti": str(uuid.uuid4()),
            "iat": str(int(now * 1000)),
            "custom:mid": mid,
            "nbf": int(now),
            "exp": int(expires),
            "iss": "Api-Client-Service",
            "aud": list(AUDIENCE),
        }
        access = self._sign(claims)
        self._prune(now)
        self._issued[access] = (expires, mid)
        refresh = "AQAAAAEAACcQ" + _b64url(secrets.token_bytes(48))
        return IssuedToken(access, refresh, int(expires * 1000), token_id)

    def is_valid(self, token: str) -> bool:
        return self.mid_of(token) is not None

    def mid_of(self, token: str) -> str | None:
        """The MID a valid (issued, unexpired) token is bound to; None for any other token."""
        issued = self._issued.get(token)
        return issued[1] if issued is not None and time.time() < issued[0] else None

    def is_known(self, token: str) -> bool:
        return token in self._issued

    def _sign(self, claims: dict[str, object]) -> str:
        header = _b64url(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
        payload = _b64url(orjson.dumps(claims))
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = _b64url(hmac.new(self._secret, signing_input, hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}"

    def _prune(self, now: float) -> None:
        if len(self._issued) > _PRUNE_ABOVE:
            self._issued = {token: issued for token, issued in self._issued.items() if issued[0] > now}


@dataclass(frozen=True, slots=True)
class CardInfo:
    last4: str
    first_digits: str
    month: int | None
    year: int | None
    first_name: str | None
    last_name: str | None


class CardVault:
    """Card tokens from /tokenize and what is remembered about them (never the full number)."""

    def __init__(self) -> None:
        self._cards: dict[str, CardInfo] = {}

    def store(self, card: CardInfo) -> str:
        token = str(uuid.uuid4())
        self._cards[token] = card
        return token

    def get(self, token: str) -> CardInfo | None:
        return self._cards.get(token)
