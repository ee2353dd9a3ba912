"""The inbound folder cannot be listed when partitions are assigned (permission denied), on the real
broker and the sandbox's SFTP server: the partitions wait (shown by the stats and the gauge), the
listing is tried again in the background, and once it is allowed they are held and read."""

from __future__ import annotations

import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from tests.integration.batch.path_support import Running, publish_mit, settings_for, until_statuses
from tests.support import wait_for

pytestmark = pytest.mark.integration


async def test_partitions_wait_for_a_refused_inbound_listing_then_are_read(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    assert sftp_sandbox.sftp is not None
    faults = sftp_sandbox.sftp.server.faults
    settings = settings_for(broker, sftp_sandbox, max_records=4, retry_max_seconds=0.2)
    async with Running(settings):  # a first owner leaves a file recorded past the commit
        await publish_mit(settings, [f"A-{i}" for i in range(4)], partition_key="A")
        await until_statuses(settings, "SUBMITTED", 4)
    faults.deny_list = "inbound"  # the next owner must list the inbound folder for it: refused
    async with Running(settings) as path:

        async def refused_again() -> bool:
            return faults.denied >= 3  # tried again, not given up at the first refusal

        await wait_for(refused_again, 30, "the inbound listing to be refused three times")
        stats = path.stats()
        assert stats["partitions"] == 0 and len(stats["partitions_waiting"]) == 2
        assert all("SFTPPermissionDenied" in e for e in stats["partitions_waiting"].values())
        path.consumer.stats()  # refreshes the gauges, as a scrape does
        assert path.metrics.batch_partitions_waiting._value.get() == 2
        await publish_mit(settings, [f"B-{i}" for i in range(4)], partition_key="B")
        faults.deny_list = None  # the permission is given back
        await until_statuses(settings, "SUBMITTED", 8)
        stats = path.stats()
        assert stats["partitions"] == 2 and stats["partitions_waiting"] == {}
        assert path.metrics.batch_partitions_waiting._value.get() == 0
