"""The outbound folder cannot be listed (permission denied) from before an upload until past its
records' result timeout, on the real broker and the sandbox's SFTP server: the failed polls are
counted, no record is reported FAILED no-batch-result, and once the listing is allowed again the
response Flex wrote meanwhile is read and its SUBMITTED statuses published."""

from __future__ import annotations

import time

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

TIMEOUT = 1.5  # the result timeout (min age 0): the outage lasts past it


async def test_an_outage_past_the_result_timeout_fails_no_record(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    assert sftp_sandbox.sftp is not None
    faults = sftp_sandbox.sftp.server.faults
    settings = settings_for(
        broker, sftp_sandbox, max_records=3, result_timeout_seconds=TIMEOUT, idle_poll_interval_seconds=0.2
    )
    orders = [f"O-{i}" for i in range(3)]
    async with Running(settings) as path:

        async def polled() -> bool:
            return path.poller.polls >= 1  # a good poll before the upload: the outage starts after it

        await wait_for(polled, 20, "a first successful result poll")
        faults.deny_list = "outbound"
        await publish_mit(settings, orders, partition_key="O")
        await until_statuses(settings, "PENDING", 3)

        async def answered() -> bool:
            return len(log_of(sftp_sandbox)) == 1  # the file was renamed, so it is in the registry

        await wait_for(answered, 20, "the sandbox to answer the batch file")
        deadline = time.time() + TIMEOUT  # after the upload's deadline (upload + timeout)
        failed_by_then: int | None = None

        async def failing_past_deadline() -> bool:
            nonlocal failed_by_then
            if time.time() <= deadline:
                return False
            if failed_by_then is None:
                failed_by_then = path.poller.poll_failures
            # two more failed rounds: the first began past the deadline and was reconciled
            return path.poller.poll_failures >= failed_by_then + 2

        await wait_for(failing_past_deadline, 30, "failed polls past the result timeout")
        assert path.poller.polls >= 1 and path.poller.missing == 0
        assert not [s for s in await statuses(settings) if s["status"] == "FAILED"]
        failures = path.metrics.batch_poll_failures.labels("default")._value.get()
        assert failures >= 2 and failures == path.poller.poll_failures == path.stats()["result_poll_failures"]
        assert faults.denied >= failures

        faults.deny_list = None  # the listing is allowed again
        submitted = await until_statuses(settings, "SUBMITTED", 3)
        found = await statuses(settings)
    pending = {s["orderId"]: s["eventId"] for s in found if s["status"] == "PENDING"}
    assert sorted(s["orderId"] for s in submitted) == orders
    assert all(s["eventId"] == pending[s["orderId"]] for s in submitted)
    assert not [s for s in found if s["status"] == "FAILED"]
    assert path.poller.missing == 0
