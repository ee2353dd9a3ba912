"""``GET /v1/orders/{id}`` and ``GET /v1/orders`` (paged list)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from aiohttp import web

from .orders import STATUS_CODES, Order
from .state import STATE, SandboxState
from .validation import Errors, as_int, parse_datetime
from .wire import JsonObject, caller_mid, envelope, failure, iso, json_response, validation_response

__all__ = ["get_order", "list_orders", "not_found", "order_view", "owned"]

_ADDRESS_KEYS = {
    key.lower(): key
    for key in (
        "firstName",
        "lastName",
        "phone",
        "country",
        "countryCode",
        "addressLine1",
        "addressLine2",
        "state",
        "city",
        "zipcode",
    )
}
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "$", "AUD": "$", "JPY": "¥"}


def _address(value: JsonObject | None) -> JsonObject | None:
    if value is None:
        return None
    return {_ADDRESS_KEYS.get(key, key): item for key, item in value.items()}


def order_view(order: Order) -> JsonObject:
    """An order as GET /v1/orders/{id} shows it (amounts in cents)."""
    billing = order.billing or {}
    return {
        "id": order.order_session_key,
        "externalOrderId": order.order_id,
        "mid": order.mid,
        "correlationId": None,
        "referenceNumber": order.confirmation_id,
        "confirmationId": order.confirmation_id,
        "status": STATUS_CODES[order.status],
        "statusName": order.status,
        "orderPlacedDate": iso(order.created_at),
        "expiryDate": iso(order.expiry_date),
        "isMIT": order.is_mit,
        "transactionType": order.transaction_type,
        "amount": order.amount,
        "capturedAmount": order.captured_amount,
        "refundedAmount": order.refunded_amount,
        "currencyCode": order.currency,
        "currencySymbol": _SYMBOLS.get(order.currency, order.currency),
        "billingAddress": _address(order.billing),
        "shippingAddress": _address(order.shipping),
        "firstName": billing.get("firstname"),
        "lastName": billing.get("lastname"),
        "email": order.payer.get("email"),
        "phone": order.payer.get("phone"),
        "secondaryEmail": None,
    }


def not_found(what: str) -> web.Response:
    return failure(404, f"{what} not found.", "NotFound")


def owned(state: SandboxState, order: Order | None) -> Order | None:
    """``order`` if the caller may see it: with several merchants, a token's merchant sees its own
    orders only (another's is not found), as Flex scopes a token to its merchant account."""
    mid = caller_mid()
    if order is None or not state.merchants.strict or mid is None or order.mid.lower() == mid.lower():
        return order
    return None


async def get_order(request: web.Request) -> web.Response:
    state = request.app[STATE]
    order = owned(state, state.orders.get(request.match_info["id"]))
    if order is None:
        return not_found("Order")
    return json_response(envelope(**order_view(order)))


def _list_params(request: web.Request) -> tuple[dict[str, Any], Errors]:
    query = request.query
    errors: Errors = {}
    params: dict[str, Any] = {}
    for name, default in (("pageSize", 10), ("pageNumber", 1)):
        raw = query.get(name)
        value = default if raw is None else as_int(raw)
        if value is None or value < 1:
            errors[name] = [f"The value '{raw}' is not valid for {name[0].upper()}{name[1:]}."]
        params[name] = value
    statuses = [part for raw in query.getall("status", []) for part in raw.split(",") if part.strip()]
    params["status"] = {as_int(part) for part in statuses}
    if None in params["status"]:
        errors["status"] = [f"The value '{','.join(statuses)}' is not valid for Status."]
    for name in ("from", "to"):
        raw = query.get(name)
        params[name] = parse_datetime(raw) if raw else None
        if raw and params[name] is None:
            errors[name] = [f"The value '{raw}' is not valid for {name.title()}."]
    return params, errors


def _selected(order: Order, request: web.Request, params: dict[str, Any]) -> bool:
    query = request.query
    start: datetime | None = params["from"]
    end: datetime | None = params["to"]
    text = query.get("query", "").strip().lower()
    mid = query.get("mid", "").strip().lower()
    haystack = f"{order.order_id} {order.order_session_key} {order.payer.get('email') or ''}".lower()
    return (
        (not params["status"] or STATUS_CODES[order.status] in params["status"])
        and (start is None or order.created_at >= start)
        and (end is None or order.created_at <= end)
        and (not mid or order.mid.lower() == mid)
        and (not text or text in haystack)
    )


async def list_orders(request: web.Request) -> web.Response:
    """Filter, sort and page orders; paging fields like X.PagedList, items under ``items``."""
    params, errors = _list_params(request)
    if errors:
        return validation_response(errors)
    state = request.app[STATE]
    orders = [o for o in state.orders.all() if owned(state, o) and _selected(o, request, params)]
    by_amount = request.query.get("orderBy", "").lower() == "amount"
    descending = request.query.get("sort", "desc").lower() != "asc"
    orders.sort(key=lambda o: (o.amount if by_amount else 0, o.created_at), reverse=descending)
    size, number = params["pageSize"], params["pageNumber"]
    page = orders[(number - 1) * size : number * size]
    paging = _paging(len(orders), number, size, len(page))
    return json_response(envelope(items=[order_view(o) for o in page], **paging))


def _paging(total: int, number: int, size: int, on_page: int) -> JsonObject:
    page_count = math.ceil(total / size)
    first = (number - 1) * size + 1 if on_page else 0
    return {
        "firstItemOnPage": first,
        "lastItemOnPage": first + on_page - 1 if on_page else 0,
        "hasNextPage": number < page_count,
        "hasPreviousPage": number > 1,
        "isFirstPage": number == 1,
        "isLastPage": number >= page_count,
        "pageCount": page_count,
        "pageNumber": number,
        "pageSize": size,
        "totalItemCount": total,
    }
