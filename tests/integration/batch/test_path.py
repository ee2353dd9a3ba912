"""The SFTP batch path on the real broker and the sandbox's SFTP server (both over TCP/SSH)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from consumers.order_keys import order_key
from consumers.sftp.client import SftpClient
from consumers.sftp.files import SealedBatch
from sandbox import RunningSandbox, SandboxConfig, start_sandbox
from streams.local.broker import EmbeddedBroker
from streams.local.traffic import make_event
from streams.runtime.awaiting import AwaitingResults
from streams.runtime.batch.path import BatchPath
from tests.integration.batch.path_support import (
    Running,
    log_of,
    publish_mit,
    settings_for,
    statuses,
    until_joined,
    until_statuses,
)
from tests.support import produce, wait_for

pytestmark = pytest.mark.integration


async def test_files_rotate_by_count_and_by_the_clock_and_every_record_comes_back(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    settings = settings_for(broker, sftp_sandbox, max_records=3, max_age_seconds=1.0)
    orders = [f"M-{i}" for i in range(7)]
    async with Running(settings) as path:
        await until_joined(path, "the batch consumer")
        # one key → one partition; CIT declines on the same topic are left to the real-time bridge
        cit = make_event("cit-challenge", "C-1", random.Random(1))
        await produce(settings.kafka.bootstrap_servers, settings.topics.declined, [("K", cit)])
        await publish_mit(settings, orders, partition_key="K")
        submitted = await until_statuses(settings, "SUBMITTED", 7)
    files = log_of(sftp_sandbox)
    assert sorted(f["records"] for f in files) == [1, 3, 3]  # 3 + 3 by count, 1 by the clock
    assert all(f["error"] is None and f["accepted"] == f["records"] for f in files)
    pending = [s for s in await statuses(settings) if s["status"] == "PENDING"]
    assert sorted(s["orderId"] for s in pending) == orders and all(s["source"] == "batch" for s in pending)
    assert sorted(s["orderId"] for s in submitted) == orders
    event_ids = {s["orderId"]: s["eventId"] for s in pending}
    assert all(s["orderSessionKey"] and s["eventId"] == event_ids[s["orderId"]] for s in submitted)
    assert {o.order_id for o in sftp_sandbox.state.orders.all()} == set(orders)
    # each PENDING tells the amount Flex took the record with (the order state's authorised amount)
    taken = {o.order_id: (o.amount, o.currency) for o in sftp_sandbox.state.orders.all()}
    assert {s["orderId"]: (s["detail"]["amount"], s["detail"]["currency"]) for s in pending} == taken


async def test_a_connection_dropped_mid_upload_delivers_the_batch_exactly_once(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    assert sftp_sandbox.sftp is not None
    sftp_sandbox.sftp.server.faults.drop_after_bytes = 2000
    sftp_sandbox.sftp.server.faults.times = 2
    settings = settings_for(broker, sftp_sandbox, max_records=5)
    orders = [f"D-{i}" for i in range(5)]
    async with Running(settings):
        await publish_mit(settings, orders, partition_key="K")
        await until_statuses(settings, "SUBMITTED", 5)
    assert sftp_sandbox.sftp.server.faults.dropped == 2
    files = log_of(sftp_sandbox)
    assert [(f["records"], f["accepted"], f["error"]) for f in files] == [
        (5, 5, None)
    ]  # no partial file seen
    assert sorted(o.order_id for o in sftp_sandbox.state.orders.all()) == orders


async def test_a_worker_killed_between_the_rename_and_the_commit_does_not_send_the_file_again(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    settings = settings_for(broker, sftp_sandbox, max_records=4)
    orders = [f"K-{i}" for i in range(4)]
    uploads: list[SealedBatch] = []
    stuck = asyncio.Event()

    async def die_before_commit(sealed: SealedBatch) -> None:
        uploads.append(sealed)
        stuck.set()
        await asyncio.Event().wait()  # never returns: the commit never happens

    first = Running(settings)
    async with first as path:
        path.consumer.uploader.on_uploaded = die_before_commit
        await publish_mit(settings, orders, partition_key="K")
        await asyncio.wait_for(stuck.wait(), 30)
    async with Running(settings) as path:  # reads the 4 records again, from the old commit
        path.consumer.uploader.on_uploaded = _record(uploads)
        await until_statuses(settings, "SUBMITTED", 4)
        await wait_for(lambda: _past(path, 4), 20, "the second consumer to read the records again")
    assert [u.name for u in uploads] == [uploads[0].name]  # the file in Flex's hands is not sent again
    assert [e["file"] for e in log_of(sftp_sandbox)] == [uploads[0].name]
    assert sorted(o.order_id for o in sftp_sandbox.state.orders.all()) == orders


async def test_a_worker_killed_between_the_record_and_the_rename_sends_the_file_once(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    settings = settings_for(broker, sftp_sandbox, max_records=4)
    orders = [f"R-{i}" for i in range(4)]
    uploads: list[SealedBatch] = []
    stuck = asyncio.Event()
    first = Running(settings)
    async with first as path:
        store, write = path.store, path.store.write_uploaded

        async def die_before_rename(tp: Any, encoded: str) -> None:
            await write(tp, encoded)  # the range is recorded, then the worker stops: no rename
            stuck.set()
            await asyncio.Event().wait()

        store.write_uploaded = die_before_rename  # type: ignore[method-assign]
        await publish_mit(settings, orders, partition_key="R")
        await asyncio.wait_for(stuck.wait(), 30)
    assert log_of(sftp_sandbox) == []  # Flex never saw it
    async with Running(settings) as path:  # finds .NAME.part in inbound: the file goes up again
        path.consumer.uploader.on_uploaded = _record(uploads)
        await until_statuses(settings, "SUBMITTED", 4)
    assert len(uploads) == 1
    assert [e["file"] for e in log_of(sftp_sandbox)] == [uploads[0].name]
    assert sorted(o.order_id for o in sftp_sandbox.state.orders.all()) == orders


async def _past(path: BatchPath, seen: int) -> bool:
    return path.consumer.seen >= seen


def _record(into: list[SealedBatch]) -> Any:
    async def hook(sealed: SealedBatch) -> None:
        into.append(sealed)

    return hook


async def test_partition_revocation_mid_batch_loses_and_duplicates_nothing(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    settings = settings_for(broker, sftp_sandbox, max_records=2000, max_age_seconds=3.0)
    orders = [f"V-{i}" for i in range(40)]
    async with Running(settings) as one:
        await until_joined(one, "the first consumer")
        await publish_mit(settings, orders)

        async def buffered() -> bool:
            return one.consumer.stats()["open_files"] == 2

        await wait_for(buffered, 20, "both partitions to hold an open file")
        async with Running(settings) as two:  # joining takes a partition away mid-batch
            await until_joined(two, "the second consumer")
            await until_statuses(settings, "SUBMITTED", 40, timeout=30)
    found = Counter(o.order_id for o in sftp_sandbox.state.orders.all())
    assert sorted(found) == sorted(orders) and set(found.values()) == {1}
    submitted = Counter(s["orderId"] for s in await statuses(settings) if s["status"] == "SUBMITTED")
    assert sorted(submitted) == sorted(orders)


async def test_a_malformed_response_file_goes_to_error_and_the_poller_goes_on(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    assert sftp_sandbox.sftp is not None
    outbound = sftp_sandbox.sftp.server.users["merchant"].outbound
    settings = settings_for(broker, sftp_sandbox, max_records=2)
    bad = "evaluate_" + settings.topics.declined + "_p0000_o000000999999.response.csv"
    (outbound / bad).write_bytes(b"this is not,the expected header\n1,2\n")
    async with Running(settings) as path:
        await publish_mit(settings, ["G-1", "G-2"], partition_key="K")
        await until_statuses(settings, "SUBMITTED", 2)

        async def moved() -> bool:
            # the good file's statuses are published before it is moved to done/
            done = outbound / "done"
            return (outbound / "error" / bad).exists() and done.is_dir() and any(done.iterdir())

        await wait_for(moved, 10, "the malformed file to move to error/ and the good one to done/")
        assert path.poller.failed_files == 1
    assert len(list((outbound / "done").iterdir())) == 1 and not (outbound / bad).exists()


async def test_missing_results_become_failed_statuses(broker: EmbeddedBroker, tmp_path: Path) -> None:
    config = SandboxConfig(sftp_port=0, state_dir=tmp_path / "s", sftp_scan_interval_seconds=3600)
    sandbox = await start_sandbox(config)  # never processes inbound: no result ever comes back
    try:
        settings = settings_for(broker, sandbox, max_records=3, result_timeout_seconds=1.0)
        async with Running(settings) as path:
            await publish_mit(settings, ["N-1", "N-2", "N-3"], partition_key="K")
            failed = await until_statuses(settings, "FAILED", 3)

            async def counted() -> int:  # after the statuses, once their file's entry is persisted
                return path.poller.missing

            assert await wait_for(counted, 30, "the missing results counted") == 3
            assert b'flexbridge_batch_missing_results_total{merchant="default"} 3.0' in path.metrics.render()
    finally:
        await sandbox.close()
    assert {s["reason"] for s in failed} == {"no-batch-result"}
    assert sorted(s["orderId"] for s in failed) == ["N-1", "N-2", "N-3"]
    assert all(s["detail"]["batchFile"].startswith("evaluate_") for s in failed)


async def test_the_uploading_worker_holds_its_orders_outcomes_before_flex_can_see_the_file(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    """Held from the data file's rename on, without waiting for this worker's orders.status
    follower to read the PENDING back: Flex may answer first (streams/runtime/awaiting.py)."""
    settings = settings_for(broker, sftp_sandbox, max_records=3)
    orders, awaiting = [f"W-{i}" for i in range(3)], AwaitingResults()
    held_at_rename: list[list[bool]] = []
    renamed = asyncio.Event()
    async with Running(settings, awaiting) as path:
        keys = [order_key(o, path.merchants[0].mid, by_merchant=True) for o in orders]
        client: SftpClient = path.sftp.client(path.merchants[0])
        rename = client.rename_temp

        async def rename_seeing_the_holds(directory: str, name: str, temp: str) -> bool:
            if name.endswith(".json"):  # the data file (the manifest is not)
                held_at_rename.append([awaiting.holds(k, "APPROVED", time.time()) for k in keys])
                renamed.set()
            return await rename(directory, name, temp)

        client.rename_temp = rename_seeing_the_holds  # type: ignore[method-assign]
        await until_joined(path, "the batch consumer")
        await publish_mit(settings, orders, partition_key="W")
        await asyncio.wait_for(renamed.wait(), 30)
    assert held_at_rename == [[True, True, True]]
