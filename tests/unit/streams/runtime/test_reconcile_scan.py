"""The worker's reconcile pass reads its own partitions' orders from the table: only the open ones
come back, as candidates; a value that is not an order is skipped; and a large table does not hold
the event loop in one stretch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from consumers.order_machine import fold_json
from schemas.status import Status, status_of
from streams.runtime.metrics import Metrics
from streams.runtime.orders import OrderBook
from streams.runtime.reconcile import _SCAN_CHUNK, owned_candidates, partition_of

TOPIC, PARTITIONS = "orders.status", 4
OWNED = {0, 2}


def _app() -> Any:
    actives = {TP(TOPIC, p) for p in OWNED} | {TP("orders.commands", 1)}  # another topic's: not ours
    return SimpleNamespace(assignor=SimpleNamespace(assigned_actives=lambda: actives))


def _table(count: int, statuses: tuple[Status, ...]) -> dict[str, bytes]:
    table: dict[str, bytes] = {}
    for i in range(count):
        order = f"ORD-{i:05d}"
        for n, status in enumerate(statuses if i % 3 else statuses[:1]):  # a third stay at the first
            written, _, _ = fold_json(table.get(order), status_of(order, status, "evaluate", f"E{i}-{n}"))
            assert written is not None
            table[order] = written
    return table


async def test_only_open_orders_of_owned_partitions_come_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = _table(200, ("SUBMITTED", "APPROVED"))
    table["ORD-not-json"] = b"{not json"
    book = OrderBook(table, Metrics())
    found = await owned_candidates(_app(), book, TOPIC, PARTITIONS)
    expected = {
        order
        for order in table
        if order != "ORD-not-json" and int(order[4:]) % 3 == 0 and partition_of(order, PARTITIONS) in OWNED
    }
    assert expected and {c.order_id for c in found} == expected
    assert all(c.status == "SUBMITTED" for c in found)
    not_json_owned = partition_of("ORD-not-json", PARTITIONS) in OWNED
    assert ("ORD-not-json: table value is not an OrderState" in caplog.text) == not_json_owned


async def test_a_large_table_is_read_with_the_loop_getting_turns() -> None:
    count = 6 * _SCAN_CHUNK
    book = OrderBook(_table(count, ("APPROVED",)), Metrics())
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker starts
    before = turns
    found = await owned_candidates(_app(), book, TOPIC, PARTITIONS)
    during = turns - before
    task.cancel()
    assert found == []  # every order approved: nothing to look up
    assert during >= count // _SCAN_CHUNK - 1
