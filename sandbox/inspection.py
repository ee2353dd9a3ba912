"""The ``/_sandbox/...`` routes: journal, orders, webhooks, faults, rules, reset, health."""

from __future__ import annotations

from typing import get_args

import orjson
from aiohttp import web
from pydantic import ValidationError

from .faults import FaultConfig
from .orders import FlexStatus
from .rules import load_rules
from .state import STATE
from .webhook_sender import EVENTS, SENDER
from .wire import json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


def _bad_request(message: str) -> web.Response:
    return json_response({"error": message}, status=400)


async def _json_body(request: web.Request) -> object:
    raw = await request.read()
    return orjson.loads(raw) if raw.strip() else {}


@routes.get("/_sandbox/health")
async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/_sandbox/requests")
async def requests(request: web.Request) -> web.Response:
    """The journal, optionally ``?path=/v1/evaluate`` and ``?since=<seq>`` (entries after it)."""
    since_raw = request.query.get("since", "0")
    if not since_raw.lstrip("-").isdigit():
        return _bad_request("since must be an integer")
    path = request.query.get("path") or None
    entries = request.app[STATE].journal.entries(path=path, since=int(since_raw))
    return json_response({"requests": entries})


@routes.get("/_sandbox/orders")
async def orders(request: web.Request) -> web.Response:
    """Every order (oldest first), optionally only ``?orderId=<merchant order id>``."""
    book = request.app[STATE].orders
    merchant_id = request.query.get("orderId")
    selected = book.all() if merchant_id is None else book.for_merchant_order(merchant_id)
    return json_response({"orders": [order.inspection() for order in selected]})


@routes.post("/_sandbox/orders/{key}/status")
async def set_order_status(request: web.Request) -> web.Response:
    """Move an order to a final state as Flex would later (e.g. a managed MIT to APPROVED or EXPIRED).

    Body ``{"status": "APPROVED", "detail": "optional note"}``.
    """
    book = request.app[STATE].orders
    order = book.get(request.match_info["key"])
    if order is None:
        return json_response({"error": "order not found"}, status=404)
    try:
        body = await _json_body(request)
    except orjson.JSONDecodeError as exc:
        return _bad_request(str(exc))
    status = body.get("status") if isinstance(body, dict) else None
    if status not in get_args(FlexStatus):
        return _bad_request(f"status must be one of {', '.join(get_args(FlexStatus))}")
    detail = body.get("detail") if isinstance(body, dict) else None
    changed = book.put(order.record("sandbox-status", status, detail=None if detail is None else str(detail)))
    return json_response(changed.inspection())


@routes.get("/_sandbox/webhooks")
async def webhooks(request: web.Request) -> web.Response:
    """Every webhook delivery (oldest first) with its payload, state and attempts."""
    return json_response({"webhooks": request.app[SENDER].inspection()})


@routes.post("/_sandbox/webhooks")
async def send_webhook(request: web.Request) -> web.Response:
    """Send one event: ``{"event", "orderSessionKey" | "externalOrderId", "eventData"?}`` → 202.

    The order is optional for ``payout.*`` events only; ``externalOrderId`` picks its latest order.
    The webhook goes to the order's merchant; a payout without an order names it with
    ``"merchant": NAME`` when the sandbox serves several.
    """
    try:
        body = await _json_body(request)
    except orjson.JSONDecodeError as exc:
        return _bad_request(str(exc))
    if not isinstance(body, dict) or body.get("event") not in EVENTS:
        return _bad_request(f"event must be one of {', '.join(EVENTS)}")
    book = request.app[STATE].orders
    key, external = body.get("orderSessionKey"), body.get("externalOrderId")
    order = book.get(str(key)) if key else None
    if order is None and external:
        order = next(reversed(book.for_merchant_order(str(external))), None)
    if order is None and (key or external or not str(body["event"]).startswith("payout.")):
        return json_response({"error": "order not found"}, status=404)
    sender = request.app[SENDER]
    merchant = sender.merchant_of(order, body.get("merchant"))
    if merchant is None:
        return _bad_request("merchant: name the merchant of a payout (no merchant has this name)")
    if merchant.webhook_url is None:
        return json_response({"error": "no webhook URL configured (--webhook-url)"}, status=409)
    delivery = sender.send(str(body["event"]), order, body.get("eventData"), merchant)
    return json_response(delivery.inspection(), status=202)


@routes.get("/_sandbox/faults")
async def get_faults(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].faults.config.wire())


@routes.post("/_sandbox/faults")
async def set_faults(request: web.Request) -> web.Response:
    """Replace the fault configuration (fields left out take their defaults)."""
    try:
        config = FaultConfig.model_validate(await _json_body(request))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        return _bad_request(str(exc))
    state = request.app[STATE]
    unknown = state.merchants.unknown(config.merchants)
    if unknown:
        return _bad_request(f"merchants: no merchant has the name or MID {', '.join(unknown)}")
    injector = state.faults
    injector.configure(config)
    return json_response(config.wire())


@routes.delete("/_sandbox/faults")
async def clear_faults(request: web.Request) -> web.Response:
    injector = request.app[STATE].faults
    injector.clear()
    return json_response(injector.config.wire())


@routes.get("/_sandbox/rules")
async def get_rules(request: web.Request) -> web.Response:
    rules = request.app[STATE].rules
    return json_response(rules.model_dump(mode="json", by_alias=True, exclude_unset=True))


@routes.put("/_sandbox/rules")
async def put_rules(request: web.Request) -> web.Response:
    """Replace the outcome rules: ``{"rules": [...]}`` or a bare list."""
    state = request.app[STATE]
    try:
        state.rules = load_rules(await _json_body(request))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        return _bad_request(str(exc))
    return json_response(state.rules.model_dump(mode="json", by_alias=True, exclude_unset=True))


@routes.delete("/_sandbox/rules")
async def restore_rules(request: web.Request) -> web.Response:
    """Back to the rules the sandbox started with (``--rules`` file or the defaults)."""
    state = request.app[STATE]
    state.rules = state.startup_rules
    return json_response(state.rules.model_dump(mode="json", by_alias=True, exclude_unset=True))


@routes.post("/_sandbox/reset")
async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    request.app[SENDER].reset()
    return json_response({"reset": True})
