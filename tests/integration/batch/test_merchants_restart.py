"""Transmit files of two merchants across a restart of the batch consumer (real broker, the sandbox
in multi-merchant mode, real SFTP): one merchant's file goes up while the other's, older, is still
open, so the commit stays before both; the next consumer of the group reads from that commit and
must not build the uploaded records into a second file (a transmit record would reach Flex twice)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.settings import Settings
from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from streams.runtime.batch.path import BatchPath
from tests.integration.batch.merchants_support import merchants_batch
from tests.integration.batch.path_support import until_joined
from tests.sandbox.merchants_support import ACME, BOLT, merchant_event
from tests.support import produce, wait_for

pytestmark = pytest.mark.integration


def transmit_settings(settings: Settings, max_age_seconds: float) -> Settings:
    """Approvals by SFTP (transmit_ files) only; a file closes at 3 records or ``max_age_seconds``."""
    routing = settings.routing.model_copy(update={"mit": "api", "transmit": "sftp"})
    batch = settings.batch.model_copy(update={"max_age_seconds": max_age_seconds})
    return settings.model_copy(update={"routing": routing, "batch": batch})


def landed_records(sandbox: RunningSandbox) -> dict[str, tuple[str, str]]:
    """Each transmitted orderId → (merchant, file), from the files in the merchants' SFTP folders;
    an orderId in two files fails."""
    assert sandbox.sftp is not None
    found: dict[str, tuple[str, str]] = {}
    for spec in (ACME, BOLT):
        root = sandbox.sftp.server.users[f"{spec.name}-sftp"].root
        for path in root.rglob("transmit_*.json"):
            for record in orjson.loads(path.read_bytes())["records"]:
                order_id = record_order_id(record)
                assert order_id not in found, f"{order_id} in {found.get(order_id)} and {path.name}"
                found[order_id] = (spec.name, path.name)
    return found


def record_order_id(record: Any) -> str:
    """The orderId somewhere in a batch record (its body may be wrapped)."""
    if isinstance(record, dict):
        if isinstance(record.get("orderId"), str):
            return str(record["orderId"])
        for value in record.values():
            if isinstance(value, dict):
                return record_order_id(value)
    raise AssertionError(f"no orderId in {record}")


def transmit_files(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    assert sandbox.sftp is not None
    return [f for f in sandbox.sftp.log if f["file"].startswith("transmit_")]


async def test_a_file_uploaded_past_the_commit_is_not_uploaded_again_by_the_next_consumer(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with merchants_batch(broker, tmp_path) as stack:
        base, sandbox = stack.settings, stack.sandbox
        # one partition (one key): acme's file [a-0 … a-2] closes at 3 records with bolt's still open
        orders = [("a-0", ACME), ("b-0", BOLT), ("a-1", ACME), ("a-2", ACME)]
        items: list[tuple[str | None, Any]] = [("K", merchant_event("approval", o, m.mid)) for o, m in orders]
        first = stack.path(transmit_settings(base, max_age_seconds=120))  # bolt's file stays open
        try:
            await first.start()
            await until_joined(first, "the first batch consumer")
            await produce(base.kafka.bootstrap_servers, base.topics.approved, items)
            await wait_for(lambda: uploaded(sandbox, {"acme"}), 30, "acme's transmit file")
        finally:
            await first.stop()  # bolt's open file is dropped: the commit stays at b-0, before a-1 and a-2
        second = stack.path(transmit_settings(base, max_age_seconds=0.5))
        try:
            await second.start()
            await until_joined(second, "the second batch consumer")
            await wait_for(lambda: uploaded(sandbox, {"acme", "bolt"}), 30, "bolt's transmit file")
            await wait_for(lambda: settled(second), 30, "the second consumer's files")
        finally:
            await second.stop()
        landed = landed_records(sandbox)  # every transmit_ file that reached an SFTP account
        assert sorted(landed) == sorted(o for o, _ in orders), landed
        assert Counter(m for m, _ in set(landed.values())) == Counter({"acme": 1, "bolt": 1}), landed


async def uploaded(sandbox: RunningSandbox, merchants: set[str]) -> list[dict[str, Any]] | None:
    """The transmit files that went up, once ``merchants`` each have one."""
    files = transmit_files(sandbox)
    return files if {f["merchant"] for f in files} >= merchants else None


async def settled(path: BatchPath) -> bool:
    """Every record read again is in a file, uploaded or not."""
    stats = path.consumer.stats()
    return bool(stats["seen"] >= 3 and stats["open_files"] == stats["uploading"] == 0)
