"""A batch file whose rename's answer is lost, on the real broker and the sandbox's SFTP server."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from tests.integration.batch.path_support import (
    Running,
    log_of,
    publish_mit,
    settings_for,
    statuses,
    until_statuses,
)
from tests.support import wait_for

pytestmark = pytest.mark.integration


async def test_a_rename_whose_answer_is_lost_submits_the_file_once(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    assert sftp_sandbox.sftp is not None
    faults = sftp_sandbox.sftp.server.faults
    faults.drop_after_rename, faults.times = ".json", 1  # the data file's rename, not its manifest's
    settings = settings_for(broker, sftp_sandbox, max_records=4)
    orders = [f"L-{i}" for i in range(4)]
    async with Running(settings) as path:
        client = path.sftp.client(path.merchants[0])
        dropped = client._dropped

        async def taken_then_retry(exc: BaseException) -> None:
            # Flex takes the renamed file before the uploader, which never heard back, tries again
            await wait_for(_taken(sftp_sandbox), 10, "the sandbox to take the renamed file")
            await dropped(exc)

        client._dropped = taken_then_retry  # type: ignore[method-assign,assignment]
        await publish_mit(settings, orders, partition_key="L")
        await until_statuses(settings, "SUBMITTED", 4)
        assert path.consumer.uploader.files == 1
    assert faults.dropped == 1
    assert [(e["records"], e["accepted"]) for e in log_of(sftp_sandbox)] == [(4, 4)]  # one submission
    assert sorted(o.order_id for o in sftp_sandbox.state.orders.all()) == orders
    pending = [s for s in await statuses(settings) if s["status"] == "PENDING"]
    assert len(pending) == 4


def _taken(sandbox: RunningSandbox) -> Any:
    async def check() -> bool:
        return bool(log_of(sandbox))

    return check
