"""The batch path with three merchants on the real broker and the sandbox in multi-merchant mode
(real SFTP): interleaved MIT declines of the three on the same partition become files of one
merchant each, uploaded through that merchant's SFTP account with its mid and token."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from tests.integration.batch.merchants_support import merchants_batch
from tests.integration.batch.path_support import until_joined, until_statuses
from tests.sandbox.merchants_support import MERCHANTS, merchant_event
from tests.support import produce

pytestmark = pytest.mark.integration


async def test_interleaved_merchants_get_files_of_their_own_in_their_own_folders(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with merchants_batch(broker, tmp_path) as stack:
        settings, sandbox = stack.settings, stack.sandbox
        path = stack.path()
        orders = [(f"{m.name}-{i}", m) for i in range(4) for m in MERCHANTS]  # a, b, c, a, b, c …
        try:
            await path.start()
            await until_joined(path, "the batch consumer")
            # one key: one partition
            items: list[tuple[str | None, Any]] = [
                ("K", merchant_event("mit-rebill", order_id, m.mid)) for order_id, m in orders
            ]
            await produce(settings.kafka.bootstrap_servers, settings.topics.declined, items)
            submitted = await until_statuses(settings, "SUBMITTED", len(orders), timeout=40)
        finally:
            await path.stop()
        assert sorted(s["orderId"] for s in submitted) == sorted(o for o, _ in orders)
        assert_files_of_their_own(sandbox)
        assert path.sftp.open_sessions == 0  # closed at stop


def assert_files_of_their_own(sandbox: RunningSandbox) -> None:
    """Every file went up whole to its own merchant's account, named after it, with its orders
    reaching Flex under the merchant's mid."""
    assert sandbox.sftp is not None
    files = sandbox.sftp.log
    assert files and all(f["error"] is None and f["accepted"] == f["records"] for f in files)
    for f in files:  # each file in its own merchant's account, named after it
        assert f["user"] == f"{f['merchant']}-sftp" and f["file"].endswith(f"_{f['merchant']}.json")
    assert Counter(f["merchant"] for f in files) == Counter({"acme": 2, "bolt": 2, "cora": 2})
    mids = {m.name: m.mid for m in MERCHANTS}
    for order in sandbox.state.orders.all():  # each order reached Flex under its merchant's mid
        assert order.mid == mids[order.order_id.split("-")[0]]
    for spec in MERCHANTS:
        user = sandbox.sftp.server.users[f"{spec.name}-sftp"]
        landed = [p.name for p in user.root.rglob("*.json")]
        assert landed and all(name.endswith(f"_{spec.name}.json") for name in landed)
