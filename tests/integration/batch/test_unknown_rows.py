"""A response file with a row for a sequence number the uploaded file never had, on the real broker
and the sandbox's SFTP server (the test writes the file into the outbound folder): the batch's own
rows are published, the extra row becomes no status and is counted, and the file goes to done/."""

from __future__ import annotations

import logging

import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from tests.integration.batch.path_support import Running, publish_mit, settings_for, statuses
from tests.integration.batch.results_support import (
    rows_for,
    until_done,
    until_withheld,
    withhold_next,
    write_response,
)

pytestmark = pytest.mark.integration


async def test_a_row_the_uploaded_file_never_had_is_no_status(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="streams.runtime.batch")
    withhold_next(sftp_sandbox)
    settings = settings_for(broker, sftp_sandbox, max_records=2, result_timeout_seconds=60)
    orders = ["G-0", "G-1"]
    async with Running(settings) as path:
        await publish_mit(settings, orders, partition_key="G")
        data_file = await until_withheld(sftp_sandbox)
        rows = rows_for(sftp_sandbox, data_file)
        ghost = {**rows[0], "sequenceNumber": "3", "orderId": "ORD-GHOST", "orderSessionKey": "ghost-key"}
        name = write_response(sftp_sandbox, data_file, [*rows, ghost])
        await until_done(sftp_sandbox, [name])
        found = await statuses(settings)
        unknown = path.metrics.batch_unknown_rows.labels("default")._value.get()
        assert path.poller.handled == 1 and path.poller.failed_files == 0
    assert sorted(s["orderId"] for s in found if s["status"] == "SUBMITTED") == orders
    assert not [s for s in found if s["orderId"] == "ORD-GHOST"]
    assert not [s for s in found if s["status"] == "FAILED"]
    assert unknown == 1
    warned = [r.getMessage() for r in caplog.records if "ORD-GHOST" in r.getMessage()]
    assert len(warned) == 1 and name in warned[0]
