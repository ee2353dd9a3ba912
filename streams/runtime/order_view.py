"""``GET /orders/{orderId}[?mid=MID]``: an order's state and history, for operators
(``flexbridge order``, streams/ops/order.py).

Faust routes the request to the worker that holds the orderId's partition of the order table (the
routing hashes the plain orderId), so any worker answers; it shows that orderId's order of each
merchant, or of one (``?mid=``). An entry this release cannot read (corrupt, or another release's)
is answered 500 with what is stored, so that an operator sees what is there. Before the worker
holds its partitions, and while the worker holding the order cannot be reached (it died, and the
group has not noticed yet), the answer is 503: retry.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import faust
import orjson
from faust.exceptions import SameNode
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from streams.runtime.orders import OrderBook, UnreadableOrder

__all__ = ["add_order_view", "order_answer"]


def add_order_view(app: faust.App, book: OrderBook) -> None:
    """The ``GET /orders/{orderId}`` page of ``app``, answered from ``book``."""

    @app.page("/orders/{order_id}")
    class OrderView(View):
        async def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
            """Answered by the worker that holds the order's partition (Faust table routing)."""
            order_id = request.match_info["order_id"]
            try:
                return await app.router.route_req(book.table.name, order_id, self.web, request)
            except SameNode:
                pass
            except (ServiceUnavailable, KeyError, TypeError):  # no partition assignment yet
                return self.json({"error": "order state not available yet; retry"}, status=503)
            except (aiohttp.ClientError, TimeoutError):  # its holder is gone: the rebalance comes
                unreachable = "the worker holding this order cannot be reached; retry after the rebalance"
                return self.json({"error": unreachable}, status=503)
            body, status = order_answer(book, order_id, request.query.get("mid") or None)
            return self.json(body, status=status)


def order_answer(book: OrderBook, order_id: str, mid: str | None = None) -> tuple[dict[str, Any], int]:
    """The body and HTTP status of ``GET /orders/{orderId}[?mid=MID]``: the order's view when one
    merchant has that orderId (or ``mid`` names one), ``{"orderId", "orders": [views]}`` when
    several have, 404 when none, 500 with the stored JSON when an entry cannot be read."""
    mid = book.spelt(mid)
    try:
        if mid is None:
            states = book.orders_of(order_id)
        else:
            state = book.get(order_id, mid)
            states = [] if state is None or state.mid not in (None, mid) else [state]
    except UnreadableOrder as exc:  # shown as stored, for an operator to see what is there
        return {"error": str(exc), "orderId": order_id, "stored": _as_stored(exc.raw)}, 500
    if not states:
        unknown = f"unknown order {order_id}" + (f" of merchant mid {mid}" if mid else "")
        return {"error": unknown, "orderId": order_id}, 404
    if len(states) == 1:
        return states[0].view(), 200
    return {"orderId": order_id, "orders": [state.view() for state in states]}, 200


def _as_stored(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")
