"""The Flex HTTP client: one long-lived ``httpx.AsyncClient``, OAuth2 token cache, retries.

Usage::

    async with FlexClient(settings.flex) as flex:
        answer = await flex.evaluate(body)          # EvaluateResponse

Every method retries timeouts, dropped connections, 408/425/429 and 5xx with full-jitter
exponential backoff honouring ``Retry-After``, under ``deadline_seconds``; then it raises
:class:`FlexUnavailable` (retriable). Permanent answers raise :class:`FlexRejected` (or its
:class:`FlexNotFound` / :class:`FlexConflict`) at once; refused credentials raise
:class:`FlexAuthFailed`. A 401 on an API call refreshes the bearer token once and retries.

Idempotency: ``/evaluate`` (key in the merchant's body), ``/capture`` and ``/cancel`` carry an
``idempotencyKey``, so a retry after a lost answer is answered without a second effect.
``/transmit`` and ``/refund`` take no key: a retry after a lost answer may repeat them. That is
accepted: Flex dedupes refunds per order, a repeated transmit only copies data, and flexbridge's
own per-event ledger keeps redeliveries from calling them again.

Merchants: the client calls as the merchant of its settings; ``flex.for_merchant(merchant)`` is
the client of another (DESIGN.md §2.9), sharing the connection pools: its own token cache (one
fetch in flight per merchant; a 401 refreshes that merchant's token only) and its ``mid``.

Nothing secret is logged: no request bodies, tokens, app secret or tokenization key.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import httpx
from pydantic import SecretStr

from consumers.flex.calls import FlexCalls
from consumers.flex.codec import decode_model, segment
from consumers.flex.engine import (
    Auth,
    CallObserver,
    FlexEngine,
    FlexRequest,
    RetryObserver,
)
from consumers.flex.errors import (
    FlexAuthFailed,
    FlexBadResponse,
    FlexConflict,
    FlexError,
    FlexNotFound,
    FlexRejected,
    FlexUnavailable,
)
from consumers.flex.http_client import build_http_client
from consumers.flex.merchant import Credentials, FlexObservers, ObserversFor
from consumers.flex.tokens import TokenCache
from consumers.retry import RetryPolicy
from core.merchants import Merchant
from core.settings import FlexSettings
from schemas.flex import TokenResponse

__all__ = [
    "FlexAuthFailed",
    "FlexBadResponse",
    "FlexClient",
    "FlexConflict",
    "FlexError",
    "FlexNotFound",
    "FlexRejected",
    "FlexUnavailable",
    "segment",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every merchant's client shares: settings, the one HTTP client (its pools), retry policy,
    clocks, and the views already made (by merchant name)."""

    settings: FlexSettings
    http: httpx.AsyncClient
    policy: RetryPolicy
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    rng: Callable[[], float]
    observers: FlexObservers
    observers_for: ObserversFor | None
    views: dict[str, FlexClient] = field(default_factory=dict)


class FlexClient(FlexCalls):
    """Async client for the Flex API, calling as one merchant (see module docstring).

    ``transport`` replaces the network (tests: ``httpx.MockTransport``); ``clock`` (monotonic
    seconds), ``wall_clock`` (epoch seconds), ``sleep`` and ``rng`` (``[0, 1)``) drive the retry
    policy and the token cache. ``on_call(endpoint, status, seconds)`` is called after every attempt
    (``status`` is the HTTP code or an error name like ``"timeout"``; ``endpoint`` a template like
    ``"POST /v1/orders/{id}/refund"``); ``on_retry(endpoint, cause)`` before every backoff sleep;
    ``on_token(result)`` after every bearer-token fetch (``"ok"`` or the error's ``reason``).
    ``observers_for(name)``, when given, supplies them per merchant instead (e.g. labelled metrics).

    The client calls as the merchant of ``settings``; :meth:`for_merchant` gives the client of
    another merchant: a light view sharing the HTTP pools, with its own token cache and defaults.
    """

    def __init__(
        self,
        settings: FlexSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] | None = None,
        on_call: CallObserver | None = None,
        on_retry: RetryObserver | None = None,
        on_token: Callable[[str], None] | None = None,
        observers_for: ObserversFor | None = None,
    ) -> None:
        s = settings
        self._shared = _Shared(
            s,
            build_http_client(s, transport),
            RetryPolicy(s.backoff_base_seconds, s.backoff_max_seconds, s.deadline_seconds),
            clock,
            wall_clock,
            sleep,
            rng if rng is not None else random.Random().random,  # backoff jitter, not a secret  # noqa: S311
            FlexObservers(on_call, on_retry, on_token),
            observers_for,
        )
        self._owner = True
        self._bind(Credentials.of_settings(s))

    def _bind(self, credentials: Credentials) -> None:
        """Calls as ``credentials``: their own token cache and engine over the shared HTTP client."""
        shared, settings = self._shared, self._shared.settings
        self.credentials = credentials
        self._secret = credentials.app_secret  # the one Flex took last (read again on a refusal)
        self._tokenization_key = settings.tokenization_key
        chosen = shared.observers_for
        observers = chosen(credentials.name) if chosen is not None else shared.observers
        self._tokens = TokenCache(
            self._fetch_token,
            margin_seconds=settings.token_refresh_margin_seconds,
            clock=shared.clock,
            wall_clock=shared.wall_clock,
            on_fetch=observers.on_token,
            name=credentials.name,
        )
        self._engine = FlexEngine(
            shared.http,
            shared.policy,
            bearer=self._bearer,
            invalidate=self._tokens.invalidate,
            timeout_seconds=settings.timeout_seconds,
            clock=shared.clock,
            wall_clock=shared.wall_clock,
            sleep=shared.sleep,
            rng=shared.rng,
            on_call=observers.on_call,
            on_retry=observers.on_retry,
            credentials_hint=credentials.hint,
        )

    def for_merchant(self, merchant: Merchant) -> FlexClient:
        """The client that calls as ``merchant`` (made on first use, then kept): this one when its
        credentials are the merchant's (the single-merchant case)."""
        credentials = Credentials.of_merchant(merchant)
        if credentials == self.credentials:
            return self
        view = self._shared.views.get(merchant.name)
        if view is None or view.credentials != credentials:
            view = object.__new__(FlexClient)
            view._shared, view._owner = self._shared, False
            view._bind(credentials)
            self._shared.views[merchant.name] = view
        return view

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools (shared by every merchant's view: only their owner closes them)."""
        if self._owner:
            await self._shared.http.aclose()

    @property
    def token_fetches(self) -> int:
        """How many bearer-token requests this merchant's client started."""
        return self._tokens.fetches

    # -- tokens -------------------------------------------------------------------------------

    async def _bearer(self, auth: Auth) -> str | None:
        if auth == "token-endpoint" or (auth == "optional" and not self.credentials.complete):
            return None
        return await self._tokens.get()

    async def _fetch_token(self) -> TokenResponse:
        """A token for the app secret in use; when Flex refuses it and the merchant's
        ``app_secret_file`` now holds another (rotated in the portal, then in the mounted file), a
        token for that one, which is used from then on: no restart for a rotation."""
        try:
            return await self._token_for(self._secret)
        except FlexAuthFailed:
            fresh = self.credentials.secret_now()
            if fresh is None or fresh == self._secret:
                raise
        name, path = self.credentials.name, self.credentials.secret_file
        log.warning("Flex refused merchant %s's app secret; %s holds another: asking with it", name, path)
        response = await self._token_for(fresh)
        self._secret = fresh
        log.warning("merchant %s: Flex took the app secret read again from %s", name, path)
        return response

    async def _token_for(self, secret: SecretStr | None) -> TokenResponse:
        body = self.credentials.token_body(secret)
        req = FlexRequest("POST", "oauth2/token", "oauth2/token", body, auth="token-endpoint")
        return decode_model(TokenResponse, await self._engine.call(req), self._engine.endpoint(req))

    async def ensure_token(self) -> str:
        """A valid bearer token (cached; refreshed ``token_refresh_margin_seconds`` before expiry)."""
        return await self._tokens.get()
