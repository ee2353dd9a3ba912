"""``flexbridge reconcile --merchant NAME``: one merchant's orders, as their statuses name it."""

from __future__ import annotations

import time

from schemas.codec import encode_model
from schemas.order_state import OrderState
from schemas.status import status_of
from streams.ops.reconcile import fold_statuses, of_merchants, report


def _orders() -> dict[str, OrderState]:
    statuses = [
        status_of("ORD-1", "SUBMITTED", "evaluate", "e1", detail={"mid": "MID-Acme"}),
        status_of("ORD-1", "SUBMITTED", "evaluate", "e2", detail={"mid": "mid-bolt"}),  # bolt's ORD-1
        status_of("ORD-2", "CHALLENGE", "evaluate", "e3", detail={"mid": "mid-bolt"}),
        status_of("ORD-3", "SUBMITTED", "evaluate", "e4"),  # names no merchant
    ]
    return fold_statuses([encode_model(s) for s in statuses])


def test_only_the_named_merchants_orders_are_listed() -> None:
    orders = _orders()
    now = time.time()
    acme = report(of_merchants(orders, ("mid-acme",)), now)
    assert [(r["orderId"], r["mid"]) for r in acme] == [("ORD-1", "MID-Acme")]  # any case, as the worker
    bolt = report(of_merchants(orders, ("mid-bolt",)), now)
    assert sorted((r["orderId"], r["mid"]) for r in bolt) == [("ORD-1", "mid-bolt"), ("ORD-2", "mid-bolt")]
    assert len(report(of_merchants(orders, ()), now)) == 4  # no --merchant: every order
