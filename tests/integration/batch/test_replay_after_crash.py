"""A worker stopped after its file's rename and before its ledger write (killed, or its upload
cancelled by a rebalance), then a replay, on the real broker and the sandbox's SFTP server: the
next owner skips the file's records and writes their events to the ledger, so the replay (not
forced) puts them in no second file."""

from __future__ import annotations

import pytest

from sandbox import RunningSandbox
from schemas.replay import REPLAY_ID_HEADER
from streams.local.broker import EmbeddedBroker
from streams.runtime.batch.path import BatchPath
from tests.integration.batch.path_support import (
    Running,
    first_life,
    log_of,
    mit,
    publish_mit,
    settings_for,
    until_joined,
    until_statuses,
)
from tests.support import produce, wait_for

pytestmark = pytest.mark.integration


async def test_a_file_renamed_before_its_worker_stopped_is_in_the_ledger_for_a_later_replay(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    settings = settings_for(broker, sftp_sandbox, max_records=4)
    orders = [f"W-{i}" for i in range(4)]
    await first_life(settings, orders, renamed=True)  # renamed; its ledger never written
    async with Running(settings) as path:  # skips the records: the recorded range covers them
        await until_statuses(settings, "SUBMITTED", 4)
        await wait_for(lambda: _filed(path, 4), 20, "the covered records counted as already filed")
        assert path.consumer.uploader.files == 0
    async with Running(settings) as path:  # the range is gone (committed past): only the ledger
        await until_joined(path, "the third life")  # the ledger read back
        assert all(path.ledger.has("evaluate", mit(o)["eventId"]) for o in orders)
        replay = [("Z", mit(o)) for o in orders]
        headers = [(REPLAY_ID_HEADER, b"replay-1")]
        await produce(settings.kafka.bootstrap_servers, settings.topics.declined, replay, headers=headers)
        await publish_mit(settings, ["W-4"], partition_key="Z")  # behind them: read once they are
        await until_statuses(settings, "SUBMITTED", 5)
        assert path.consumer.finished == 4
        assert await _filed(path, 4)  # the replayed ones too (FlexbridgeMitBatchNotUploaded leaves them out)
    assert [f["records"] for f in log_of(sftp_sandbox)] == [4, 1]


async def _filed(path: BatchPath, count: int) -> bool:
    """Whether ``count`` records were counted as in a file already (batch_already_filed_records)."""
    return bool(path.metrics.batch_already_filed_records.labels("default")._value.get() == count)
