"""A replay of batch records on the real broker and the sandbox's SFTP server: events already in a
file renamed into the inbound folder are in the ledger, so their replay goes in no second file;
a forced replay (``replay-force: 1``) goes in another one."""

from __future__ import annotations

import pytest

from sandbox import RunningSandbox
from schemas.replay import FORCE_HEADER, REPLAY_ID_HEADER
from streams.local.broker import EmbeddedBroker
from tests.integration.batch.path_support import (
    Running,
    log_of,
    mit,
    publish_mit,
    settings_for,
    until_statuses,
)
from tests.support import produce, wait_for

pytestmark = pytest.mark.integration


async def test_a_replayed_batch_record_goes_in_no_second_file_unless_forced(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    settings = settings_for(broker, sftp_sandbox, max_records=3)
    bootstrap, declined = settings.kafka.bootstrap_servers, settings.topics.declined
    orders = ["R-0", "R-1", "R-2"]
    async with Running(settings) as path:
        await publish_mit(settings, orders, partition_key="K")
        await until_statuses(settings, "SUBMITTED", 3)
        assert all(path.ledger.has("evaluate", mit(o)["eventId"]) for o in orders)

        replay = [("K", mit(o)) for o in orders]  # the same events again, at later offsets
        await produce(bootstrap, declined, replay, headers=[(REPLAY_ID_HEADER, b"replay-1")])
        await publish_mit(settings, ["R-3"], partition_key="K")  # behind them: read once they are
        await until_statuses(settings, "SUBMITTED", 4)
        assert (path.consumer.finished, [f["records"] for f in log_of(sftp_sandbox)]) == (3, [3, 1])

        forced = [(REPLAY_ID_HEADER, b"replay-2"), (FORCE_HEADER, b"1")]
        await produce(bootstrap, declined, replay, headers=forced)

        async def a_third_file() -> bool:  # taken in by the sandbox (it scans its inbound folder)
            return len(log_of(sftp_sandbox)) >= 3

        await wait_for(a_third_file, 20, "the forced replay's file", every=0.1)
    assert [f["records"] for f in log_of(sftp_sandbox)] == [3, 1, 3]
