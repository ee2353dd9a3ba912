"""Retrying: the policy (pure functions) and the one retry loop of flexbridge.

- :class:`RetryPolicy` computes full-jitter exponential backoff (``rng() * min(cap, base * 2**n)``),
  raised to at least ``Retry-After`` when the server sent one, and gives up (``None``) when the
  wait would end past the overall deadline or the attempt budget is spent.
- :func:`retry` runs an operation under a policy: an error whose ``retriable`` is true
  (:class:`core.errors.FlexbridgeError`) is logged and tried again after the policy's wait (at
  least its ``retry_after``); any other error, or the policy giving up, raises at once. The
  clock, the sleep and the random source are injected, so it is tested without waiting.
- For Flex calls: :func:`classify` says what an outcome (an httpx exception or an HTTP status)
  means (success, retry, re-authenticate, or a permanent failure); :func:`parse_retry_after`
  reads ``Retry-After`` as delta-seconds or an HTTP-date. The Flex engine drives its own attempt
  loop with these and the same :class:`RetryPolicy` (it retries on statuses, not exceptions).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from core.errors import FlexbridgeError

__all__ = [
    "OUTAGE",
    "Disposition",
    "RetryPolicy",
    "capped",
    "classify",
    "classify_exception",
    "classify_status",
    "every_error",
    "failure_name",
    "is_retriable",
    "parse_retry_after",
    "retry",
]

T = TypeVar("T")

_RETRIABLE_STATUS = frozenset({408, 425, 429})
_PERMANENT_TRANSPORT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_MAX_EXPONENT = 64


class Disposition(enum.Enum):
    """What to do after one attempt."""

    SUCCESS = "success"
    RETRY = "retry"
    REAUTH = "reauth"  # 401: refresh the bearer token once, then try again
    PERMANENT = "permanent"


def classify_status(status_code: int) -> Disposition:
    """2xx success; 401 re-auth; 408, 425, 429 and 5xx retry; every other status is permanent."""
    if 200 <= status_code < 300:
        return Disposition.SUCCESS
    if status_code == 401:
        return Disposition.REAUTH
    if status_code in _RETRIABLE_STATUS or 500 <= status_code < 600:
        return Disposition.RETRY
    return Disposition.PERMANENT


def classify_exception(exc: BaseException) -> Disposition:
    """Timeouts, connection errors and drops (any :class:`httpx.TransportError`) retry.

    Exceptions that say the request itself is wrong (a bad URL scheme, an invalid request) and
    anything that is not an httpx transport error are permanent.
    """
    if isinstance(exc, _PERMANENT_TRANSPORT):
        return Disposition.PERMANENT
    if isinstance(exc, httpx.TransportError):
        return Disposition.RETRY
    return Disposition.PERMANENT


def classify(outcome: int | BaseException) -> Disposition:
    """Classify a status code or an exception."""
    if isinstance(outcome, BaseException):
        return classify_exception(outcome)
    return classify_status(outcome)


def failure_name(exc: BaseException) -> str:
    """A short, low-cardinality name for metrics and messages: ``timeout``, ``connect-error`` …"""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect-error"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection-dropped"
    if isinstance(exc, httpx.NetworkError):
        return "network-error"
    name = type(exc).__name__
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or ``None`` if absent or unreadable.

    ``value`` is delta-seconds (``"120"``) or an HTTP-date; ``now`` is the epoch time the date is
    measured against (best: the response's own ``Date`` header, so clock skew cancels out).
    A date in the past means 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Full-jitter exponential backoff under an overall deadline and an attempt budget.

    ``backoff(n) = rng() * min(max_seconds, base_seconds * 2**n)`` for retry number ``n`` (0-based),
    with ``rng`` returning a float in ``[0, 1)``. The wait is raised to ``retry_after`` when the
    server asked for it. ``next_wait`` returns ``None`` (give up) when ``elapsed + wait`` reaches
    ``deadline_seconds`` or ``max_attempts`` attempts have been made. Without either (the
    defaults), it never gives up: for waiting out an outage.
    """

    base_seconds: float
    max_seconds: float
    deadline_seconds: float = math.inf
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.max_seconds <= 0 or self.deadline_seconds <= 0:
            raise ValueError("base_seconds, max_seconds and deadline_seconds must be > 0")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be ≥ 1")

    def ceiling(self, retry: int) -> float:
        """The upper bound of the jittered wait before retry number ``retry``."""
        exponent = min(max(retry, 0), _MAX_EXPONENT)
        return min(self.max_seconds, self.base_seconds * 2.0**exponent)

    def backoff(self, retry: int, rng: Callable[[], float]) -> float:
        """A jittered wait in ``[0, ceiling(retry))``."""
        factor = min(max(rng(), 0.0), 1.0)
        return factor * self.ceiling(retry)

    def next_wait(
        self, retry: int, *, elapsed: float, rng: Callable[[], float], retry_after: float | None = None
    ) -> float | None:
        """The wait before retry number ``retry``, or ``None`` if it would pass the deadline or the
        attempt budget (``retry + 1`` attempts have been made)."""
        if self.max_attempts is not None and retry + 1 >= self.max_attempts:
            return None
        wait = self.backoff(retry, rng)
        if retry_after is not None:
            wait = max(wait, retry_after)
        if elapsed + wait >= self.deadline_seconds:
            return None
        return wait


OUTAGE = RetryPolicy(base_seconds=0.5, max_seconds=30.0)
"""Waiting out an outage (Kafka, a token endpoint): from 0.5 s up to 30 s between attempts, forever."""


def capped(max_seconds: float) -> RetryPolicy:
    """From 0.5 s (less if ``max_seconds`` is) doubling up to ``max_seconds``, forever."""
    return RetryPolicy(base_seconds=min(0.5, max_seconds), max_seconds=max_seconds)


def every_error(_exc: BaseException) -> bool:
    """For :func:`retry`'s ``retriable``: try again whatever the error (a step that must not die)."""
    return True


def is_retriable(exc: BaseException) -> bool:
    """Whether ``exc`` says trying again later can succeed: a :class:`FlexbridgeError` with ``retriable``."""
    return isinstance(exc, FlexbridgeError) and exc.retriable


async def retry(
    op: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    what: str,
    log: logging.Logger,
    level: int = logging.WARNING,
    retriable: Callable[[BaseException], bool] = is_retriable,
    on_retry: Callable[[BaseException], Awaitable[None]] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
) -> T:
    """``await op()`` until it returns; each retriable error is logged (``what failed (…); retry n
    in s``) at ``level``, handed to ``on_retry`` (e.g. to drop a broken connection) and retried
    after the policy's wait, at least the error's ``retry_after``. A non-retriable error raises at
    once; the last retriable one raises when the policy gives up."""
    start = clock()
    retries = 0
    while True:
        try:
            return await op()
        except Exception as exc:
            if not retriable(exc):
                raise
            retry_after = exc.retry_after if isinstance(exc, FlexbridgeError) else None
            elapsed = clock() - start
            wait = policy.next_wait(retries, elapsed=elapsed, rng=rng, retry_after=retry_after)
            if wait is None:
                raise
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.log(level, "%s failed (%s); retry %d in %.1f s", what, error, retries + 1, wait)
            if on_retry is not None:
                await on_retry(exc)
        await sleep(wait)
        retries += 1
