"""The request engine under :class:`consumers.flex.client.FlexClient`: one attempt loop for every Flex call.

Each call: (bearer token) → attempt → classify → success | one token refresh on 401 | permanent
error | jittered backoff honouring ``Retry-After`` under the deadline → :class:`FlexUnavailable`.
The loop is its own, not :func:`consumers.retry.retry`: it branches on HTTP statuses (a response
is not an exception), refreshes the token once on a 401 and reports every attempt to the
observers; its waits and its deadline are the same :class:`consumers.retry.RetryPolicy`.
Request bodies are orjson-encoded and never logged; secrets that Flex wants in the query string
(the tokenization key) travel as a request extension, added to the URL below httpx's logging layer
(http_client.py), so its ``HTTP Request:`` log line never shows them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel

from consumers.flex.codec import encode_json
from consumers.flex.errors import FlexAuthFailed, FlexError, FlexUnavailable, rejection
from consumers.flex.http_client import SECRET_QUERY, transport_of
from consumers.retry import Disposition, RetryPolicy, classify, failure_name, parse_retry_after
from schemas.flex import parse_error_body

__all__ = [
    "MIN_ATTEMPT_SECONDS",
    "Auth",
    "CallObserver",
    "FlexEngine",
    "FlexRequest",
    "RetryObserver",
]

_log = logging.getLogger("flexbridge.flex")
_httpx_log = logging.getLogger("httpx")
_CREDENTIALS_HINT = "check FLEXBRIDGE_FLEX__APP_KEY / FLEXBRIDGE_FLEX__APP_SECRET"
# An attempt gets what is left of the deadline, but at least this long: a retry begun just before
# the deadline may end up to this much past it.
MIN_ATTEMPT_SECONDS = 0.05

Auth = Literal["bearer", "optional", "token-endpoint"]
CallObserver = Callable[[str, int | str, float], None]
RetryObserver = Callable[[str, int | str], None]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class FlexRequest:
    """One Flex call. ``path`` is relative to ``base_url`` and already escaped; ``label`` is its
    low-cardinality template for metrics (``orders/{id}/refund``). ``auth``: ``bearer`` always sends
    a token, ``optional`` only when credentials are configured, ``token-endpoint`` is the token call.
    """

    method: str
    path: str
    label: str
    body: Mapping[str, Any] | None = field(default=None, repr=False)  # the token call's holds its secret
    params: Mapping[str, str] | None = None
    secret_params: Mapping[str, str] | None = field(default=None, repr=False)
    auth: Auth = "bearer"


@dataclass(slots=True)
class _Attempts:
    start: float
    attempts: int = 0
    retries: int = 0


Outcome = httpx.Response | httpx.RequestError


class FlexEngine:
    """Sends :class:`FlexRequest` s with retries.

    ``bearer(auth)`` supplies the token for a request (``None``: send none); ``invalidate(token)``
    drops a token Flex answered 401 to; ``credentials_hint`` ends a refused-credentials message.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        *,
        bearer: Callable[[Auth], Awaitable[str | None]],
        invalidate: Callable[[str], None],
        timeout_seconds: float,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        rng: Callable[[], float],
        on_call: CallObserver | None = None,
        on_retry: RetryObserver | None = None,
        credentials_hint: str = _CREDENTIALS_HINT,
    ) -> None:
        self.client = client
        self._hint = credentials_hint
        self.policy = policy
        self._timeout = timeout_seconds
        self._clock, self._wall_clock, self._sleep, self._rng = clock, wall_clock, sleep, rng
        self._on_call, self._on_retry = on_call, on_retry
        self._bearer, self._invalidate = bearer, invalidate
        self._base_path = client.base_url.path
        # Requests go straight to the client's transport (see _send); the client's own headers first.
        self._transport = transport_of(client)
        self._headers = list(client.headers.multi_items())
        self._urls: dict[str, httpx.URL] = {}  # by path, for paths without ids (label == path)

    def endpoint(self, req: FlexRequest, *, label: bool = False) -> str:
        return f"{req.method} {self._base_path}{req.label if label else req.path}"

    async def call(self, req: FlexRequest) -> httpx.Response:
        """Send ``req`` until success, a permanent answer, or the deadline."""
        content = encode_json(req.body) if req.body is not None else None
        state = _Attempts(start=self._clock())
        refreshed = False
        while True:
            bearer = await self._bearer(req.auth)
            outcome = await self._attempt(req, content, bearer, state)
            verdict = classify(outcome if isinstance(outcome, httpx.RequestError) else outcome.status_code)
            if verdict is Disposition.SUCCESS and isinstance(outcome, httpx.Response):
                return outcome
            if verdict is Disposition.REAUTH and bearer is not None and not refreshed:
                self._invalidate(bearer)
                refreshed = True
                continue
            if verdict is not Disposition.RETRY:
                cause = outcome if isinstance(outcome, httpx.RequestError) else None
                raise self._permanent(req, outcome, refreshed) from cause
            await self._backoff(req, outcome, state)

    async def _attempt(
        self, req: FlexRequest, content: bytes | None, bearer: str | None, state: _Attempts
    ) -> Outcome:
        headers = list(self._headers)
        headers += [("Content-Type", "application/json")] if content is not None else []
        headers += [("Authorization", f"Bearer {bearer}")] if bearer is not None else []
        remaining = self.policy.deadline_seconds - (self._clock() - state.start)
        timeout = min(self._timeout, max(remaining, MIN_ATTEMPT_SECONDS))
        extensions: dict[str, Any] = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)}
        if req.secret_params:
            extensions[SECRET_QUERY] = dict(req.secret_params)
        url = self._url(req)
        if req.params:
            url = url.copy_merge_params(dict(req.params))
        request = httpx.Request(req.method, url, headers=headers, content=content, extensions=extensions)
        state.attempts += 1
        started = self._clock()
        try:
            response = await self._send(request)
        except httpx.RequestError as exc:
            self._observe(req, failure_name(exc), started)
            return exc
        self._observe(req, response.status_code, started)
        return response

    def _url(self, req: FlexRequest) -> httpx.URL:
        """``req.path`` under the base URL, as ``httpx.AsyncClient`` joins them; kept for fixed paths."""
        url = self._urls.get(req.path)
        if url is None:
            base = self.client.base_url
            url = base.copy_with(raw_path=base.raw_path + httpx.URL(req.path).raw_path.lstrip(b"/"))
            if req.path == req.label:
                self._urls[req.path] = url
        return url

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """One request through the transport, its body read. What ``AsyncClient.send`` adds on top
        (redirects, auth flows, a cookie jar, event hooks, per-call URL and header merging) Flex calls
        do not use, and it cost a fifth of the worker's CPU per call at 500 evaluates/s."""
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        if _httpx_log.isEnabledFor(logging.INFO):  # the line httpx's client logs (without the secret query)
            status = f"{response.http_version} {response.status_code} {response.reason_phrase}"
            _httpx_log.info('HTTP Request: %s %s "%s"', request.method, request.url, status)
        return response

    def _observe(self, req: FlexRequest, status: int | str, started: float) -> None:
        if self._on_call is not None:
            try:
                self._on_call(self.endpoint(req, label=True), status, self._clock() - started)
            except Exception:  # an observer's bug must not fail the call  # noqa: BLE001
                _log.exception("flex on_call observer failed")

    def _permanent(self, req: FlexRequest, outcome: Outcome, refreshed: bool) -> FlexError:
        endpoint = self.endpoint(req)
        if isinstance(outcome, httpx.RequestError):
            return FlexError(f"{endpoint}: {failure_name(outcome)}", endpoint=endpoint, reason="flex-request")
        status = outcome.status_code
        if req.auth == "token-endpoint" and 400 <= status < 500:
            message = f"{endpoint}: {status}: Flex refused the credentials; {self._hint}"
            return FlexAuthFailed(message, status_code=status, endpoint=endpoint)
        if status == 401:
            why = "again after a token refresh" if refreshed else "without a bearer token"
            message = f"{endpoint}: 401 {why}; {self._hint}"
            return FlexAuthFailed(message, status_code=status, endpoint=endpoint)
        return rejection(endpoint, status, parse_error_body(outcome.content))

    def _retry_after(self, outcome: Outcome) -> float | None:
        if isinstance(outcome, httpx.RequestError):
            return None
        now = self._wall_clock()
        date = outcome.headers.get("Date")
        if date:
            try:
                now = parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError, IndexError):
                pass
        return parse_retry_after(outcome.headers.get("Retry-After"), now=now)

    async def _backoff(self, req: FlexRequest, outcome: Outcome, state: _Attempts) -> None:
        retry_after = self._retry_after(outcome)
        elapsed = self._clock() - state.start
        wait = self.policy.next_wait(state.retries, elapsed=elapsed, rng=self._rng, retry_after=retry_after)
        status: int | None = None
        last: int | str
        if isinstance(outcome, httpx.Response):
            status = last = outcome.status_code
        else:
            last = failure_name(outcome)
        if wait is None:
            detail = f"deadline {self.policy.deadline_seconds:g} s"
            if retry_after is not None:
                detail = f"Retry-After {retry_after:g} s, {detail}"
            raise FlexUnavailable(
                endpoint=self.endpoint(req),
                last_failure=str(last),
                attempts=state.attempts,
                elapsed_seconds=elapsed,
                status_code=status,
                detail=detail,
                retry_after=retry_after,
            )
        label = self.endpoint(req, label=True)
        _log.info("flex %s: %s, retry %d in %.2f s", label, last, state.retries + 1, wait)
        if self._on_retry is not None:
            try:
                self._on_retry(label, last)
            except Exception:  # an observer's bug must not stop the retries  # noqa: BLE001
                _log.exception("flex on_retry observer failed")
        await self._sleep(wait)
        state.retries += 1
