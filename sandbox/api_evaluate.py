"""``POST /v1/transmit``, ``POST /v1/evaluate`` and ``POST /v1/outcome``."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from .idempotency import fingerprint, run_idempotent
from .orders import Order, new_order
from .rules import match_rule
from .state import STATE, SandboxState
from .validation import OUTCOME, TRANSMIT, as_int, evaluate_errors, parse_datetime, read_checked
from .wire import JsonObject, caller_mid, dig, envelope, json_response, read_json, validation_response

__all__ = ["card_facts", "evaluate", "outcome", "transmit"]


async def transmit(request: web.Request) -> web.Response:
    """Accept a copy of a processed transaction: ``result: "success"`` and a ``transmitId``."""
    body = await read_checked(request, TRANSMIT)
    if isinstance(body, web.Response):
        return body
    return json_response(envelope(result="success", transmitId=str(uuid.uuid4())))


async def evaluate(request: web.Request) -> web.Response:
    """Submit a declined transaction: creates an order whose status the outcome rules decide."""
    state = request.app[STATE]
    body = await read_json(request)
    if isinstance(body, web.Response):
        return body
    errors = evaluate_errors(body)
    if errors:
        return validation_response(errors)
    key: str = body["idempotencykey"]
    return run_idempotent(
        state.idempotency,
        key,
        fingerprint("evaluate", None, body),
        lambda: _evaluate(state, body),
    )


def _evaluate(state: SandboxState, body: JsonObject) -> web.Response:
    order = _sync_mit_retry(state, body) or _create_order(state, body)
    return json_response(
        envelope(
            orderSessionKey=order.order_session_key,
            senseKey=body.get("sensekey"),
            orderId=order.order_session_key,
            result="Success",
            status=order.status,
        )
    )


def _mid(state: SandboxState, body: JsonObject) -> str:
    """The body's ``mid``, else the authenticated merchant's, else the configured one."""
    mid = body.get("mid")
    return mid if isinstance(mid, str) and mid.strip() else caller_mid() or state.config.mid


def _sync_mit_retry(state: SandboxState, body: JsonObject) -> Order | None:
    """An MIT re-sent with the same merchant orderId gets the existing order's current state."""
    if body.get("ismit") is not True:
        return None
    earlier = [o for o in state.orders.for_merchant_order(body["orderid"], _mid(state, body)) if o.is_mit]
    if not earlier:
        return None
    return state.orders.put(earlier[-1].record("evaluate-retry"))


def card_facts(state: SandboxState, body: JsonObject) -> dict[str, str | None]:
    """``last4``/``bin`` of the card: from cardLast4Digits, a /tokenize token, or a raw number."""
    method = body.get("paymentmethod")
    method = method if isinstance(method, dict) else {}
    number = str(method.get("cardnumber") or "").replace(" ", "")
    card = state.cards.get(number) if number else None
    last4 = method.get("cardlast4digits") or (card.last4 if card else None)
    bin_ = method.get("cardbinnumber") or (card.first_digits[:6] if card else None)
    if last4 is None and number.isdigit() and len(number) >= 12:
        last4, bin_ = number[-4:], bin_ or number[:6]
    return {"last4": None if last4 is None else str(last4), "bin": None if bin_ is None else str(bin_)}


def _object(body: JsonObject, key: str) -> JsonObject | None:
    value = body.get(key)
    return value if isinstance(value, dict) else None


def _create_order(state: SandboxState, body: JsonObject) -> Order:
    rule = match_rule(state.rules, {**body, "$card": card_facts(state, body)})
    transaction: dict[str, Any] = body["transaction"]
    order = new_order(
        order_id=body["orderid"],
        mid=_mid(state, body),
        status=rule.status if rule else "DECLINED",
        amount=as_int(transaction.get("amount")) or 0,
        currency=str(transaction.get("currency") or "USD").upper(),
        is_mit=body.get("ismit") is True,
        transaction_type=str(body.get("transactiontype") or "PURCHASE").upper(),
        expiry_date=parse_datetime(body.get("expirydateutc")),
        rule=rule.name if rule else None,
        payer=_object(body, "payer") or {},
        billing=_object(body, "billinginformation"),
        shipping=_object(body, "shippinginformation"),
    )
    return state.orders.put(order)


async def outcome(request: web.Request) -> web.Response:
    """Deprecated status call by orderSessionKey; an unknown key answers ``status: "NOTFOUND"``."""
    state = request.app[STATE]
    body = await read_checked(request, OUTCOME)
    if isinstance(body, web.Response):
        return body
    order = state.orders.get(str(dig(body, "orderSessionKey")))
    if order is None:
        return json_response(envelope(status="NOTFOUND", confirmationId=None))
    return json_response(envelope(status=order.status, confirmationId=order.confirmation_id))
