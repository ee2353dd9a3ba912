"""A response file holding only some of a batch's rows, then a complete one of the same name, on
the real broker and the sandbox's SFTP server (the test writes both into the outbound folder): the
first answers only its rows, the second publishes only the rows not answered yet, nothing is
reported FAILED, and ``outbound/done/`` keeps both files (``NAME``, ``NAME.1``)."""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from tests.integration.batch.path_support import (
    Running,
    publish_mit,
    settings_for,
    statuses,
    until_statuses,
)
from tests.integration.batch.results_support import (
    rows_for,
    until_done,
    until_withheld,
    withhold_next,
    write_response,
)

pytestmark = pytest.mark.integration


async def test_a_partial_response_answers_its_rows_and_a_later_one_the_rest(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    withhold_next(sftp_sandbox)
    settings = settings_for(broker, sftp_sandbox, max_records=4, result_timeout_seconds=60)
    orders = [f"P-{i}" for i in range(4)]
    async with Running(settings) as path:
        await publish_mit(settings, orders, partition_key="P")
        await until_statuses(settings, "PENDING", 4)
        data_file = await until_withheld(sftp_sandbox)
        rows = rows_for(sftp_sandbox, data_file)
        assert [r["orderId"] for r in rows] == orders

        name = write_response(sftp_sandbox, data_file, rows[:2])  # Flex's first file: half the rows
        await until_done(sftp_sandbox, [name])
        first = [s for s in await statuses(settings) if s["status"] == "SUBMITTED"]
        assert sorted(s["orderId"] for s in first) == orders[:2]

        write_response(sftp_sandbox, data_file, rows)  # then every row, under the same name
        await until_done(sftp_sandbox, [name, f"{name}.1"])
        await until_statuses(settings, "SUBMITTED", 4)
        found = await statuses(settings)
        assert path.poller.handled == 2 and path.poller.missing == 0
    pending = {s["orderId"]: s["eventId"] for s in found if s["status"] == "PENDING"}
    submitted = [s for s in found if s["status"] == "SUBMITTED"]
    assert Counter(s["orderId"] for s in submitted) == Counter(orders)  # each once
    assert all(s["eventId"] == pending[s["orderId"]] for s in submitted)
    keys = {r["orderId"]: r["orderSessionKey"] for r in rows}
    assert all(s["orderSessionKey"] == keys[s["orderId"]] for s in submitted)
    assert not [s for s in found if s["status"] == "FAILED"]
