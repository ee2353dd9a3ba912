"""A worker that stops right before or right after an evaluate file's rename, on the real broker and
the sandbox's SFTP server: the next owner still reconciles every record of the file, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox import RunningSandbox, SandboxConfig, start_sandbox
from streams.local.broker import EmbeddedBroker
from tests.integration.batch.path_support import (
    Running,
    first_life,
    log_of,
    settings_for,
    statuses,
    until_statuses,
)
from tests.support import read_all

pytestmark = pytest.mark.integration


@pytest.fixture(params=[True, False], ids=["flex-answers", "flex-never-answers"])
async def flex(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    """The sandbox; ``flex-never-answers`` never takes a file from the inbound folder."""
    scan = 0.2 if request.param else 3600.0
    config = SandboxConfig(sftp_port=0, state_dir=tmp_path / "s", sftp_scan_interval_seconds=scan)
    running = await start_sandbox(config)
    try:
        yield running
    finally:
        await running.close()


async def test_a_worker_stopped_right_after_the_rename_leaves_the_file_reconciled(
    broker: EmbeddedBroker, flex: RunningSandbox
) -> None:
    answers = flex.config.sftp_scan_interval_seconds < 1
    settings = settings_for(broker, flex, max_records=4, result_timeout_seconds=3600 if answers else 1.0)
    orders = [f"Z-{i}" for i in range(4)]
    await first_life(settings, orders, renamed=True)
    async with Running(settings) as path:  # reads the records again: the file's range skips them
        outcome = await until_statuses(settings, "SUBMITTED" if answers else "FAILED", 4)
        assert path.consumer.uploader.files == 0 and path.restored == 1
    pending = {s["orderId"]: s["eventId"] for s in await statuses(settings) if s["status"] == "PENDING"}
    assert sorted(s["orderId"] for s in outcome) == orders  # each record once, with its own event
    assert all(s["eventId"] == pending[s["orderId"]] for s in outcome)
    if answers:
        assert [e["records"] for e in log_of(flex)] == [4]
    else:
        assert {s["reason"] for s in outcome} == {"no-batch-result"}


async def test_a_worker_stopped_right_before_the_rename_leaves_no_registry_entry_behind(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    config = SandboxConfig(sftp_port=0, state_dir=tmp_path / "s", sftp_settle_seconds=0.5)
    async with await start_sandbox(config) as sandbox:
        settings = settings_for(broker, sandbox, max_records=4)
        orders = [f"Y-{i}" for i in range(4)]
        await first_life(settings, orders, renamed=False)
        assert log_of(sandbox) == []  # Flex never saw it
        async with Running(settings) as path:  # finds .NAME.part: the entry is dropped, the file sent
            submitted = await until_statuses(settings, "SUBMITTED", 4)
            assert path.consumer.uploader.files == 1
        assert [e["records"] for e in log_of(sandbox)] == [4]
    assert sorted(s["orderId"] for s in submitted) == orders
    assert not [s for s in await statuses(settings) if s["status"] == "FAILED"]
    name = log_of(sandbox)[0]["file"].encode()
    records = await read_all(settings.kafka.bootstrap_servers, settings.topics.batches)
    states = ["entry" if r.value is not None else "forgotten" for r in records if r.key == name]
    assert states[:3] == ["entry", "forgotten", "entry"]  # the first life's entry, dropped, the file's
