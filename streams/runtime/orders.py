"""Order state: a Faust table keyed by ``orderId``, fed by every OrderStatus on ``orders.status``.

The table lives in memory (``store="memory://"``); its changelog topic in Kafka is the durable
copy, read back by whichever worker is assigned the partition. ``GET /orders/{orderId}`` is
routed by Faust to the worker that holds the order's partition, so any worker answers.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.exceptions import SameNode
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable
from pydantic import ValidationError

from consumers.order_machine import fold_json
from schemas.order_state import OrderState
from schemas.status import OrderStatus
from streams.runtime.metrics import Metrics

__all__ = ["OrderBook", "add_order_state", "raw_topic"]

log = logging.getLogger(__name__)


def raw_topic(app: faust.App, name: str) -> Any:
    """A Faust topic of raw bytes (flexbridge decodes with its own pydantic models)."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


class OrderBook:
    """The ``orders`` table: orderId → OrderState JSON. Writes only inside a Faust agent's event."""

    def __init__(self, app: faust.App, partitions: int, metrics: Metrics) -> None:
        self.metrics = metrics
        self.table = app.Table(
            "orders",
            key_type=str,
            value_type=bytes,
            partitions=partitions,
            help="flexbridge order state by merchant orderId",
        )
        # Keys as the plain UTF-8 orderId (Faust would JSON-quote them): the changelog and the
        # request routing then partition exactly like orders.status and orders.commands.
        self.table.key_serializer = "raw"  # type: ignore[attr-defined]
        self.table.value_serializer = "raw"  # type: ignore[attr-defined]
        # Faust made the changelog topic in the constructor, with the JSON key serializer: reading the
        # plain keys back failed ("Error in recovery"), so a restarted or rebalanced worker never
        # finished recovery and its agents (commands, order state) stalled. Rebuild it with the above.
        self.table.changelog_topic = self.table._new_changelog_topic()  # type: ignore[attr-defined]

    def get(self, order_id: str) -> OrderState | None:
        raw = self.table.get(order_id)
        return OrderState.model_validate_json(raw) if raw is not None else None

    def put(self, state: OrderState) -> None:
        self.table[state.order_id] = state.model_dump_json(by_alias=True).encode()

    def on_status(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one ``orders.status`` record; a record that is not an OrderStatus is skipped."""
        try:
            status = OrderStatus.model_validate_json(value or b"")
        except ValidationError as exc:
            log.warning("orders.status record skipped: not an OrderStatus (%d errors)", exc.error_count())
            self.metrics.order_status("invalid")
            return
        if key is not None and key != status.order_id.encode():
            # the table is partitioned by orderId: a record keyed otherwise cannot be placed
            log.warning("orders.status record skipped: key differs from its orderId")
            self.metrics.order_status("misrouted")
            return
        # folded on the stored JSON (consumers/order_machine.py fold_json): no model built per status
        written, verdict, note = fold_json(self.table.get(status.order_id), status)
        if written is not None:
            self.table[status.order_id] = written
        if verdict == "illegal":
            log.warning("order %s: %s", status.order_id, note)
        self.metrics.order_status(verdict)


def add_order_state(app: faust.App, status_topic: str, partitions: int, metrics: Metrics) -> OrderBook:
    """The table (``partitions`` like every topic), the agent that keeps it from ``status_topic``
    and the ``GET /orders/{orderId}`` view."""
    book = OrderBook(app, partitions, metrics)

    @app.agent(raw_topic(app, status_topic), name="flexbridge-order-state")
    async def track(stream: Any) -> None:
        async for event in stream.events():
            book.on_status(event.key, event.value)

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
            state = book.get(order_id)
            if state is None:
                return self.json({"error": f"unknown order {order_id}", "orderId": order_id}, status=404)
            return self.json(state.view())

    return book
