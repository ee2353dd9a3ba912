"""Order-table retention: a final order without news for ``FLEXBRIDGE_ORDERS__RETENTION_DAYS`` leaves
the table, by a tombstone in its changelog partition, so a worker that reads the changelog back does
not have it either; an open order stays, whatever its age."""

from __future__ import annotations

import pytest

from schemas.codec import encode_model
from schemas.status import Status, status_of
from streams.local.stack import metric_total
from streams.runtime.reconcile import partition_of
from streams.runtime.worker import order_changelog_topic
from tests.conftest import Stack, Worker
from tests.flows import order_codes, ready
from tests.support import produce, read_all, wait_for

pytestmark = pytest.mark.integration

RETENTION = {  # a final order is forgotten 2 s after its last news; a pass every half second
    "FLEXBRIDGE_ORDERS__RETENTION_DAYS": str(2 / 86_400),
    "FLEXBRIDGE_RECONCILE__INTERVAL_SECONDS": "0.5",
}
PARTITIONS = 4  # the stack's FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS
FINAL: dict[str, Status] = {f"RET-F{i}": s for i, s in enumerate(("APPROVED", "DECLINED", "CANCELLED") * 3)}
OPEN: dict[str, Status] = {"RET-O1": "SUBMITTED", "RET-O2": "CHALLENGE", "RET-O3": "CAPTUREREQUIRED"}


async def _forgotten(worker: Worker, count: int) -> None:
    async def done() -> bool:
        return await metric_total(worker.url, "flexbridge_orders_forgotten_total") == count

    await wait_for(done, 30, f"{count} orders forgotten", every=0.3)


async def test_final_orders_leave_the_table_and_its_changelog(stack: Stack) -> None:
    worker = stack.worker(**RETENTION)
    await ready(worker)
    statuses = {**FINAL, **OPEN}
    records = [(o, encode_model(status_of(o, s, "webhook", f"W-{o}"))) for o, s in statuses.items()]
    await produce(stack.bootstrap, stack.topics["status"], records)
    await _forgotten(worker, len(FINAL))
    assert await order_codes(worker, [*statuses]) == {o: 404 if o in FINAL else 200 for o in statuses}

    # Kafka's copy: each final order's entry, then its tombstone, in its orderId's partition
    changelog = await read_all(
        stack.bootstrap, order_changelog_topic(stack.env["FLEXBRIDGE_KAFKA__GROUP_ID"])
    )
    by_key: dict[str, list[tuple[int, bool]]] = {}
    for record in changelog:
        by_key.setdefault(record.key.decode(), []).append((record.partition, record.value is None))
    for order in FINAL:
        assert by_key[order] == [
            (partition_of(order, PARTITIONS), False),
            (partition_of(order, PARTITIONS), True),
        ]
    assert all(by_key[order] == [(partition_of(order, PARTITIONS), False)] for order in OPEN)

    # a worker that reads the changelog back has the open orders only
    worker.process.stop()
    second = stack.worker(**RETENTION)
    await ready(second)

    async def recovered() -> bool:  # 503 until the table is assigned, 404 until an order is read back
        return set((await order_codes(second, [*OPEN])).values()) == {200}

    await wait_for(recovered, 30, "the open orders read back", every=0.3)
    assert await order_codes(second, [*statuses]) == {o: 404 if o in FINAL else 200 for o in statuses}
    assert await metric_total(second.url, "flexbridge_order_table_entries") == len(OPEN)
    assert await metric_total(second.url, "flexbridge_orders_forgotten_total") == 0
