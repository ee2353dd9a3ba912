"""``POST /v1/capture``, ``/v1/orders/{id}/refund``, ``/v1/orders/{id}/cancel`` and ``/external-cancel``."""

from __future__ import annotations

import uuid

from aiohttp import web

from .api_orders import not_found, owned
from .idempotency import fingerprint, run_idempotent
from .orders import Order, Refund
from .state import STATE, SandboxState
from .validation import CANCEL, CAPTURE, REFUND, as_int, check, read_checked, to_cents
from .wire import (
    JsonObject,
    envelope,
    error_item,
    json_response,
    mark_replayed,
    read_json,
    validation_response,
)

__all__ = ["cancel", "capture", "external_cancel", "refund"]


async def capture(request: web.Request) -> web.Response:
    """Capture a CAPTUREREQUIRED order for exactly its authorised amount (200 SUCCESS | FAILED)."""
    state = request.app[STATE]
    body = await read_checked(request, CAPTURE)
    if isinstance(body, web.Response):
        return body
    order_key = str(body["orderid"]).strip().lower()
    return run_idempotent(
        state.idempotency,
        body["idempotencykey"],
        fingerprint("capture", order_key, body),
        lambda: _capture(state, order_key, body),
    )


def _capture(state: SandboxState, order_key: str, body: JsonObject) -> web.Response:
    order = owned(state, state.orders.get(order_key))
    if order is None:
        return not_found("Order")
    amount = as_int(body["amount"])
    currency = str(body["currency"]).strip().upper()
    problem = None
    if order.status != "CAPTUREREQUIRED":
        problem = f"Order status is {order.status}; only CAPTUREREQUIRED orders can be captured."
    elif amount != order.amount:
        problem = f"Capture amount ({amount}) must equal the authorized amount ({order.amount})."
    elif currency != order.currency:
        problem = f"Capture currency ({currency}) must equal the order currency ({order.currency})."
    if problem is not None:
        errors = [error_item(problem, "CaptureFailed")]
        failed = envelope(success=False, status="FAILED", captureStatus="FAILED", errors=errors)
        return json_response(failed)
    state.orders.put(order.record("capture", "APPROVED", amount=amount, captured_amount=amount))
    return json_response(envelope(status="SUCCESS", captureStatus="SUCCESS"))


def _settled(order: Order) -> int:
    if order.captured_amount:
        return order.captured_amount
    return order.amount if order.status in ("APPROVED", "REFUNDED") else 0


def _dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _refund_answer(transaction_id: str) -> web.Response:
    body = envelope(
        status="SUCCESS", responseCode="0", responseMessage="APPROVED", transactionId=transaction_id
    )
    return json_response(body)


def _refund_refused(cents: int, maximum: int) -> web.Response:
    message = (
        f"Amount to refund ({_dollars(cents)}) is greater than maximum refund amount "
        f"in ({_dollars(maximum)}))"
    )
    body = envelope(
        success=False,
        status="FAILED",
        errors=[error_item(message, "2001")],
        responseCode="2001",
        responseMessage=message,
        transactionId=None,
    )
    return json_response(body, status=400)


async def refund(request: web.Request) -> web.Response:
    """Refund dollars (``amountToRefund``), never above what was settled; a repeat is not re-applied."""
    state = request.app[STATE]
    body = await read_json(request)
    if isinstance(body, web.Response):
        return body
    errors = check(body, REFUND)
    cents = to_cents(body.get("amounttorefund"))
    if not errors and cents is None:
        errors = {"AmountToRefund": ["The field AmountToRefund is invalid."]}
    if errors or cents is None:
        return validation_response(errors)
    order = owned(state, state.orders.get(request.match_info["id"]))
    if order is None:
        return not_found("Order")
    message = body.get("refundmessage")
    last = order.refunds[-1] if order.refunds else None
    if last is not None and (last.amount, last.message) == (cents, message):
        mark_replayed()
        return _refund_answer(last.transaction_id)
    settled = _settled(order)
    if cents > settled - order.refunded_amount:
        return _refund_refused(cents, settled - order.refunded_amount)
    entry = Refund(amount=cents, message=message, transaction_id=str(uuid.uuid4()))
    refunded = order.refunded_amount + cents
    changed = order.record(
        "refund",
        "REFUNDED" if refunded >= settled else None,
        amount=cents,
        detail=message,
        refunded_amount=refunded,
        refunds=(*order.refunds, entry),
    )
    state.orders.put(changed)
    return _refund_answer(entry.transaction_id)


def _cancellable(order: Order) -> bool:
    if order.is_mit:
        return order.status in ("SUBMITTED", "CAPTUREREQUIRED")
    return order.status == "CAPTUREREQUIRED"


def _cancel(state: SandboxState, order_key: str) -> web.Response:
    order = owned(state, state.orders.get(order_key))
    if order is None:
        return not_found("Order")
    if order.status == "CANCELLED":
        mark_replayed()
        return json_response({})
    if not _cancellable(order):
        kind = "MIT" if order.is_mit else "CIT"
        message = f"A {kind} order in status {order.status} cannot be cancelled."
        refused = envelope(success=False, status="FAILED", errors=[error_item(message, "NotCancellable")])
        return json_response(refused, 400)
    state.orders.put(order.record("cancel", "CANCELLED"))
    return json_response({})


async def _cancel_request(request: web.Request, order: Order | None) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request, optional=True)
    if isinstance(body, web.Response):
        return body
    errors = check(body, CANCEL)
    if errors:
        return validation_response(errors)
    if order is None:
        return not_found("Order")
    key = order.order_session_key
    idempotency_key = body.get("idempotencykey")
    if not idempotency_key:
        return _cancel(state, key)
    print_ = fingerprint("cancel", key, body)
    return run_idempotent(state.idempotency, idempotency_key, print_, lambda: _cancel(state, key))


async def cancel(request: web.Request) -> web.Response:
    """Void a pending order by orderSessionKey; 200 ``{}``. Cancelling a cancelled order is a no-op."""
    state = request.app[STATE]
    return await _cancel_request(request, owned(state, state.orders.get(request.match_info["id"])))


async def external_cancel(request: web.Request) -> web.Response:
    """Like cancel, keyed by the merchant's order id (its most recent order)."""
    state = request.app[STATE]
    orders = [
        o for o in state.orders.for_merchant_order(request.match_info["externalOrderId"]) if owned(state, o)
    ]
    return await _cancel_request(request, orders[-1] if orders else None)
