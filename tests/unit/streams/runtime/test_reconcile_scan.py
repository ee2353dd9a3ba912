"""The worker's reconcile pass reads its own partitions' orders from the table: only the open ones
come back, as candidates, and the final ones past the retention's cutoff as expired; a value that is
not an order is skipped; a large table does not hold the event loop in one stretch. Forgetting an
expired order drops it only if nothing happened to it since."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from consumers.order_machine import fold_json
from schemas.status import Status, status_of
from streams.runtime.metrics import Metrics
from streams.runtime.orders import Expired, OrderBook
from streams.runtime.reconcile import _SCAN_CHUNK, owned_orders, partition_of

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
    found = (await owned_orders(_app(), book, TOPIC, PARTITIONS)).candidates
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
    found = (await owned_orders(_app(), book, TOPIC, PARTITIONS)).candidates
    during = turns - before
    task.cancel()
    assert found == []  # every order approved: nothing to look up
    assert during >= count // _SCAN_CHUNK - 1


async def test_final_orders_older_than_the_cutoff_are_expired_open_ones_never() -> None:
    table = _table(120, ("SUBMITTED", "DECLINED"))  # a third stay SUBMITTED
    book = OrderBook(table, Metrics())
    owned = {o for o in table if partition_of(o, PARTITIONS) in OWNED}
    finals = {o for o in owned if int(o[4:]) % 3}
    kept = await owned_orders(_app(), book, TOPIC, PARTITIONS, cutoff=time.time() - 3600)
    assert kept.expired == []  # every order had news just now
    assert await owned_orders(_app(), book, TOPIC, PARTITIONS) == kept  # no cutoff: none either
    later = await owned_orders(_app(), book, TOPIC, PARTITIONS, cutoff=time.time() + 1)
    assert finals and {e.order_id for e in later.expired} == finals
    assert {c.order_id for c in later.candidates} == owned - finals
    assert all(
        e.raw is table[e.key] and e.partition == partition_of(e.order_id, PARTITIONS) for e in later.expired
    )


class _Table:
    """What :meth:`OrderBook.forget` uses of a Faust table: its entries, store and changelog."""

    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = _Store(data)
        self.data._key_partition = {key: 9 for key in data}
        self.tombstones: list[tuple[int, str, Any, str]] = []

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def send_changelog(self, partition: int, key: str, value: Any, value_serializer: str) -> None:
        self.tombstones.append((partition, key, value, value_serializer))


class _Store(dict[str, bytes]):
    _key_partition: dict[str, int]


def test_forget_drops_unchanged_orders_and_tombstones_their_partition() -> None:
    done = fold_json(None, status_of("ORD-A", "APPROVED", "evaluate", "E1"))[0]
    changed = fold_json(None, status_of("ORD-B", "DECLINED", "evaluate", "E2"))[0]
    busy = fold_json(None, status_of("ORD-C", "DECLINED", "evaluate", "E3"))[0]
    assert done and changed and busy
    table = _Table({"ORD-A": done, "ORD-B": changed, "ORD-C": busy})
    book = OrderBook(table, Metrics())
    book.in_use.add("ORD-C")  # a command is acting on it
    news = fold_json(changed, status_of("ORD-B", "REFUNDED", "webhook", "W1"))[0]
    assert news is not None
    table.data["ORD-B"] = news  # news after the pass read it
    read = {"ORD-A": (done, 1), "ORD-B": (changed, 2), "ORD-C": (busy, 3)}  # as the pass read them
    expired = [Expired(o, o, raw, partition) for o, (raw, partition) in read.items()]
    assert book.forget(expired) == 1
    assert set(table.data) == {"ORD-B", "ORD-C"}
    assert table.tombstones == [(1, "ORD-A", None, "raw")]
    assert "ORD-A" not in table.data._key_partition and "ORD-B" in table.data._key_partition
