"""Bearer-token cache for Flex: reuse, refresh ahead of expiry, single flight.

Flex tokens live 10 minutes (``expires`` is epoch milliseconds). The cache turns that into a
monotonic deadline when the token arrives, refreshes ``margin`` seconds early, and lets exactly one
caller fetch while the others wait on an :class:`asyncio.Lock`. Callers that were waiting for a
fetch that failed get the same error instead of each fetching again (100 callers behind a dead
token endpoint fail together, not one after another). ``on_fetch(result)`` hears each fetch's end:
``"ok"``, or the error's ``reason`` (``flex-auth``, ``retries-exhausted``, ``flex-bad-response``, …).

A fetch that fails for good (refused or missing credentials: an error that is not ``retriable``)
is remembered for a short, growing time (``refusals``: the ceilings of a
:class:`~consumers.retry.RetryPolicy`, 0.5 s doubling up to 30 s by default): meanwhile every
caller gets that error at once without a token call, so a merchant whose credentials Flex refuses
fails its events fast instead of asking Flex again for each. A successful fetch resets it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from consumers.retry import OUTAGE, RetryPolicy, is_retriable
from schemas.flex import TokenResponse

__all__ = ["DEFAULT_TOKEN_LIFETIME_SECONDS", "TokenCache"]

log = logging.getLogger(__name__)

DEFAULT_TOKEN_LIFETIME_SECONDS = 600.0
_MIN_REUSE_SECONDS = 1.0


class TokenCache:
    """Holds one bearer token; ``fetch`` obtains a new one (it does its own retries)."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[TokenResponse]],
        *,
        margin_seconds: float,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        on_fetch: Callable[[str], None] | None = None,
        refusals: RetryPolicy = OUTAGE,
        name: str = "",
    ) -> None:
        self._fetch = fetch
        self._name = name  # whose token (the merchant's name), for the log
        self._on_fetch = on_fetch
        self._margin = margin_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._fetches = 0
        self._completed = 0
        self._failure: BaseException | None = None
        self._refusals = refusals
        self._refused: Exception | None = None  # the last fetch's error, while it is not retriable
        self._refused_count = 0
        self._refused_until = 0.0

    @property
    def fetches(self) -> int:
        """How many token fetches were started (for tests and metrics)."""
        return self._fetches

    def _fresh(self) -> str | None:
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        return None

    async def get(self) -> str:
        """A valid token, fetching one if there is none or it is about to expire."""
        token = self._fresh()
        if token is not None:
            return token
        self._raise_refusal()
        seen = self._completed  # a fetch finishing after this point is one we waited for
        async with self._lock:
            token = self._fresh()
            if token is not None:
                return token
            if self._completed != seen and self._failure is not None:
                raise self._failure  # the fetch we were waiting for failed: share its error
            self._raise_refusal()
            self._fetches += 1
            try:
                response = await self._fetch()
            except Exception as exc:
                self._failure = exc
                self._observe(str(getattr(exc, "reason", "error")))
                self._remember(exc)
                raise
            finally:
                self._completed += 1
            self._failure = None
            self._refused, self._refused_count = None, 0
            self._observe("ok")
            self._store(response)
            return response.access_token

    def _raise_refusal(self) -> None:
        """Raise the remembered refusal while its hold lasts (no token call meanwhile)."""
        if self._refused is not None and self._clock() < self._refused_until:
            raise self._refused.with_traceback(None)

    def _remember(self, exc: Exception) -> None:
        """Hold a refusal (an error that is not retriable) for the next, longer, step of the policy."""
        if is_retriable(exc):
            self._refused, self._refused_count = None, 0
            return
        self._refused = exc
        hold = self._refusals.ceiling(self._refused_count)
        self._refused_until = self._clock() + hold
        self._refused_count += 1
        log.error(
            "Flex refused the token request%s (%s): every call fails at once for %.1f s, then the "
            "token is asked for again",
            f" of merchant {self._name}" if self._name else "",
            exc,
            hold,
        )

    def _observe(self, result: str) -> None:
        if self._on_fetch is not None:
            self._on_fetch(result)

    def _store(self, response: TokenResponse) -> None:
        if response.expires is None:
            lifetime = DEFAULT_TOKEN_LIFETIME_SECONDS
        else:
            lifetime = response.expires / 1000.0 - self._wall_clock()
        # Refresh `margin` early, but never spend more than half the lifetime on the margin; a
        # token that looks already expired (clock skew) is still used briefly, and a 401 refreshes it.
        reuse = max(lifetime - min(self._margin, lifetime / 2), _MIN_REUSE_SECONDS)
        self._token = response.access_token
        self._refresh_at = self._clock() + reuse

    def invalidate(self, token: str | None = None) -> None:
        """Forget the token (only if it is still ``token``, so 100 concurrent 401s refresh once)."""
        if token is None or token == self._token:
            self._token = None
