"""A managed-MIT decline sent twice close together, on the real broker and the sandbox's SFTP server:
its second copy is left out of the file that holds the first (one record, one PENDING, one
SUBMITTED), and its offset is committed with the others."""

from __future__ import annotations

import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from tests.integration.batch.path_support import Running, log_of, mit, settings_for, statuses, until_statuses
from tests.support import produce

pytestmark = pytest.mark.integration


async def test_an_event_sent_twice_goes_once_in_its_file(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    settings = settings_for(broker, sftp_sandbox, max_records=3)
    sent = [("K", mit(order)) for order in ("D-0", "D-0", "D-1", "D-2")]  # one partition, in order
    async with Running(settings) as path:
        await produce(settings.kafka.bootstrap_servers, settings.topics.declined, sent)
        submitted = await until_statuses(settings, "SUBMITTED", 3)
        assert sorted(s["orderId"] for s in submitted) == ["D-0", "D-1", "D-2"]
        assert [f["records"] for f in log_of(sftp_sandbox)] == [3]
        pending = [s["orderId"] for s in await statuses(settings) if s["status"] == "PENDING"]
        assert sorted(pending) == ["D-0", "D-1", "D-2"]
        assert path.consumer.stats()["skipped_duplicate"] == 1
