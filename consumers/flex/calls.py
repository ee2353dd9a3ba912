"""The Flex API calls of :class:`consumers.flex.client.FlexClient`, as one merchant.

Each builds its :class:`FlexRequest` and decodes the answer; the client supplies the engine (the
attempt loop over the merchant's token) and the merchant's credentials. A 200 whose envelope says
the operation failed (a refund or capture ``FAILED``) raises :class:`FlexRejected`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import SecretStr

from consumers.flex.codec import decode_model, segment
from consumers.flex.engine import FlexEngine, FlexRequest
from consumers.flex.errors import FlexAuthFailed, FlexNotFound, FlexRejected
from consumers.flex.merchant import Credentials
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
    TransmitResponse,
    cancel_body,
    capture_body,
    parse_error_body,
    redact_pan,
    refund_body,
)
from schemas.order_state import FlexOrderAmounts

__all__ = ["FlexCalls"]

M = TypeVar("M", bound=FlexModel)


class FlexCalls:
    """The calls; a subclass sets ``_engine``, ``credentials`` and ``_tokenization_key``."""

    _engine: FlexEngine
    credentials: Credentials
    _tokenization_key: SecretStr | None

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
        setting = self._tokenization_key
        key = tokenization_key or (setting.get_secret_value() if setting is not None else None)
        if not key:
            raise FlexAuthFailed("Flex tokenization key missing: set FLEXBRIDGE_FLEX__TOKENIZATION_KEY")
        mid = self.credentials.mid
        if not mid:
            raise FlexAuthFailed("Flex merchant id missing: set FLEXBRIDGE_FLEX__MID")
        body: Mapping[str, Any] = card
        if "payment_method" not in card:
            method: dict[str, Any] = {"credit_card": dict(card)}
            method.update({k: v for k, v in (("email", email), ("sense_key", sense_key)) if v})
            body = {"payment_method": method}
        query, secret = {"mid": mid}, {"environment": key}
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
