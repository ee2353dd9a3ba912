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

Nothing secret is logged: no request bodies, tokens, app secret or tokenization key.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from consumers.flex.codec import decode_model, segment
from consumers.flex.engine import (
    Auth,
    CallObserver,
    FlexEngine,
    FlexRequest,
    RetryObserver,
    build_http_client,
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
from consumers.flex.tokens import TokenCache
from consumers.retry import RetryPolicy
from core.settings import FlexSettings
from schemas.flex import (
    CancelResponse,
    CaptureResponse,
    EvaluateResponse,
    FlexEnvelope,
    FlexModel,
    OrderDetails,
    OrderPage,
    OutcomeResponse,
    RefundResponse,
    TokenizeResponse,
    TokenResponse,
    TransmitResponse,
    cancel_body,
    capture_body,
    parse_error_body,
    redact_pan,
    refund_body,
)
from schemas.order_state import FlexOrderAmounts

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

M = TypeVar("M", bound=FlexModel)


def _secret(value: Any) -> str | None:
    """The text of an optional ``SecretStr`` setting, or None if unset or empty."""
    text: str | None = value.get_secret_value() if value is not None else None
    return text or None


class FlexClient:
    """Async client for the Flex API (see module docstring for retries and idempotency).

    ``transport`` replaces the network (tests: ``httpx.MockTransport``); ``clock`` (monotonic
    seconds), ``wall_clock`` (epoch seconds), ``sleep`` and ``rng`` (``[0, 1)``) drive the retry
    policy and the token cache. ``on_call(endpoint, status, seconds)`` is called after every attempt
    (``status`` is the HTTP code or an error name like ``"timeout"``; ``endpoint`` a template like
    ``"POST /v1/orders/{id}/refund"``); ``on_retry(endpoint, cause)`` before every backoff sleep;
    ``on_token(result)`` after every bearer-token fetch (``"ok"`` or the error's ``reason``).
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
    ) -> None:
        self._settings = settings
        self._http = build_http_client(settings, transport)
        policy = RetryPolicy(
            settings.backoff_base_seconds, settings.backoff_max_seconds, settings.deadline_seconds
        )
        self._tokens = TokenCache(
            self._fetch_token,
            margin_seconds=settings.token_refresh_margin_seconds,
            clock=clock,
            wall_clock=wall_clock,
            on_fetch=on_token,
        )
        self._engine = FlexEngine(
            self._http,
            policy,
            bearer=self._bearer,
            invalidate=self._tokens.invalidate,
            timeout_seconds=settings.timeout_seconds,
            clock=clock,
            wall_clock=wall_clock,
            sleep=sleep,
            rng=rng if rng is not None else random.Random().random,  # backoff jitter, not a secret  # noqa: S311
            on_call=on_call,
            on_retry=on_retry,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    @property
    def token_fetches(self) -> int:
        """How many bearer-token requests this client started."""
        return self._tokens.fetches

    # -- tokens -------------------------------------------------------------------------------

    def _has_credentials(self) -> bool:
        return bool(_secret(self._settings.app_key) and _secret(self._settings.app_secret))

    async def _bearer(self, auth: Auth) -> str | None:
        if auth == "token-endpoint" or (auth == "optional" and not self._has_credentials()):
            return None
        return await self._tokens.get()

    async def _fetch_token(self) -> TokenResponse:
        key, secret = _secret(self._settings.app_key), _secret(self._settings.app_secret)
        if key is None or secret is None:
            names = ("FLEXBRIDGE_FLEX__APP_KEY", key), ("FLEXBRIDGE_FLEX__APP_SECRET", secret)
            missing = " and ".join(name for name, value in names if value is None)
            raise FlexAuthFailed(f"Flex credentials missing: set {missing}")
        body = {"AppKey": key, "AppSecret": secret}
        req = FlexRequest("POST", "oauth2/token", "oauth2/token", body, auth="token-endpoint")
        return decode_model(TokenResponse, await self._engine.call(req), self._engine.endpoint(req))

    async def ensure_token(self) -> str:
        """A valid bearer token (cached; refreshed ``token_refresh_margin_seconds`` before expiry)."""
        return await self._tokens.get()

    # -- calls --------------------------------------------------------------------------------

    async def _call(self, model: type[M], req: FlexRequest) -> M:
        return decode_model(model, await self._engine.call(req), self._engine.endpoint(req))

    async def tokenize(
        self,
        card: Mapping[str, Any],
        *,
        tokenization_key: str | None = None,
        email: str | None = None,
        sense_key: str | None = None,
    ) -> str:
        """Vault a card; returns the Flex token (``transaction.payment_method.token``).

        ``card`` is the ``credit_card`` object (``first_name``, ``last_name``, ``number``,
        ``verification_value``, ``month``, ``year``) or a whole body that already has a
        ``payment_method``. ``tokenization_key`` defaults to ``FLEXBRIDGE_FLEX__TOKENIZATION_KEY``;
        the merchant id comes from ``FLEXBRIDGE_FLEX__MID``. A bearer token is sent when app
        credentials are configured (Flex documents tokenize without one).
        """
        key = tokenization_key or _secret(self._settings.tokenization_key)
        if not key:
            raise FlexAuthFailed("Flex tokenization key missing: set FLEXBRIDGE_FLEX__TOKENIZATION_KEY")
        if not self._settings.mid:
            raise FlexAuthFailed("Flex merchant id missing: set FLEXBRIDGE_FLEX__MID")
        body: Mapping[str, Any] = card
        if "payment_method" not in card:
            method: dict[str, Any] = {"credit_card": dict(card)}
            method.update({k: v for k, v in (("email", email), ("sense_key", sense_key)) if v})
            body = {"payment_method": method}
        query, secret = {"mid": self._settings.mid}, {"environment": key}
        req = FlexRequest("POST", "tokenize", "tokenize", body, query, secret, auth="optional")
        answer = await self._call(TokenizeResponse, req)
        if not answer.token:
            raise self._failed(req, answer, "card was not tokenized")
        return answer.token

    async def transmit(self, body: Mapping[str, Any]) -> TransmitResponse:
        """Copy of a processed transaction (fire and forget). No idempotency key: see module doc."""
        return await self._call(TransmitResponse, FlexRequest("POST", "transmit", "transmit", body))

    async def evaluate(self, body: Mapping[str, Any]) -> EvaluateResponse:
        """Submit a declined transaction for rescue; ``body`` must carry its ``idempotencyKey``."""
        return await self._call(EvaluateResponse, FlexRequest("POST", "evaluate", "evaluate", body))

    async def outcome(self, order_session_key: str) -> OutcomeResponse:
        """Deprecated ``/outcome`` status lookup (prefer :meth:`get_order`)."""
        req = FlexRequest("POST", "outcome", "outcome", {"orderSessionKey": order_session_key})
        return await self._call(OutcomeResponse, req)

    async def get_order(self, order_session_key: str) -> OrderDetails:
        """``GET /orders/{id}``; raises :class:`FlexNotFound` on 404 or an answer without ``id``."""
        req = FlexRequest("GET", f"orders/{segment(order_session_key)}", "orders/{id}")
        result = await self._call(OrderDetails, req)
        if not result.id:
            endpoint = self._engine.endpoint(req)
            raise FlexNotFound(f"{endpoint}: no such order", status_code=200, endpoint=endpoint)
        return result

    async def find_orders(self, query: str, page_size: int = 50) -> OrderPage:
        """``GET /orders?query=…`` (newest first): orders whose ids or email contain ``query``."""
        params = {"query": query, "pageSize": str(page_size), "orderBy": "createdOn", "sort": "desc"}
        return await self._call(OrderPage, FlexRequest("GET", "orders", "orders", params=params))

    async def order_amounts(self, order_session_key: str) -> FlexOrderAmounts:
        """``GET /orders/{id}`` read for its amounts (cents): the checks of refund and capture."""
        req = FlexRequest("GET", f"orders/{segment(order_session_key)}", "orders/{id}")
        return await self._call(FlexOrderAmounts, req)

    async def refund(
        self, order_session_key: str, amount_cents: int, message: str | None = None
    ) -> RefundResponse:
        """Refund ``amount_cents`` (sent as dollars, e.g. 1250 → ``12.50``); ``status: FAILED`` raises
        :class:`FlexRejected` with Flex's ``responseMessage``. No idempotency key: see module doc."""
        path = f"orders/{segment(order_session_key)}/refund"
        req = FlexRequest("POST", path, "orders/{id}/refund", refund_body(amount_cents, message))
        result = await self._call(RefundResponse, req)
        if result.failed:
            raise self._failed(req, result, result.response_message or "refund failed")
        return result

    async def cancel(self, order_session_key: str, idempotency_key: str) -> CancelResponse:
        """Void an uncaptured order by its Flex id (409 → :class:`FlexConflict`)."""
        path = f"orders/{segment(order_session_key)}/cancel"
        req = FlexRequest("POST", path, "orders/{id}/cancel", cancel_body(idempotency_key))
        return await self._call(CancelResponse, req)

    async def external_cancel(self, order_id: str, idempotency_key: str) -> CancelResponse:
        """Cancel by the merchant's own order id (when the ``/evaluate`` answer was lost)."""
        path = f"orders/{segment(order_id)}/external-cancel"
        req = FlexRequest("POST", path, "orders/{id}/external-cancel", cancel_body(idempotency_key))
        return await self._call(CancelResponse, req)

    async def capture(
        self, order_session_key: str, amount_cents: int, currency: str, idempotency_key: str
    ) -> CaptureResponse:
        """Capture an order in CAPTUREREQUIRED; a ``FAILED`` answer raises :class:`FlexRejected`."""
        body = capture_body(order_session_key, amount_cents, currency, idempotency_key)
        req = FlexRequest("POST", "capture", "capture", body)
        result = await self._call(CaptureResponse, req)
        if result.failed:
            reason = "; ".join(item.message for item in result.errors if item.message)
            raise self._failed(req, result, f"capture failed: {reason}" if reason else "capture failed")
        return result

    def _failed(self, req: FlexRequest, answer: FlexEnvelope, summary: str) -> FlexRejected:
        """A 200 that says the operation failed → FlexRejected carrying the envelope's errors."""
        endpoint = self._engine.endpoint(req)
        errors = parse_error_body(answer.model_dump(by_alias=True, exclude={"custom_properties"}))
        message = f"{endpoint}: {answer.status or 'failed'}: {redact_pan(summary)}"
        return FlexRejected(message, status_code=200, errors=errors, endpoint=endpoint)
