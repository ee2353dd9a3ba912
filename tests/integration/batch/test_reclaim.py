"""Claims left in outbound/processing/ by a dead worker are reclaimed after
FLEXBRIDGE_BATCH__CLAIM_TIMEOUT_SECONDS, and a response file is published once even when it is
handled twice (real broker, the sandbox's SFTP server)."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
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


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def upload_and_die_before_claiming(
    settings: Settings, sandbox: RunningSandbox, orders: list[str]
) -> str:
    """A worker uploads ``orders`` and dies before its poller takes the answer; the response file's name."""
    async with Running(settings) as dead:
        await dead.poller.stop()
        await publish_mit(settings, orders, partition_key="K")
        await until_statuses(settings, "PENDING", 3)

        async def responded() -> str | None:
            return next((f["response"] for f in log_of(sandbox) if f["response"]), None)

        return await wait_for(responded, 20, "the sandbox's response file")


def claim_long_ago(outbound: Path, response: str) -> Path:
    """``response`` moved to processing/ 5 s ago by a worker that never finished."""
    (outbound / "processing").mkdir(exist_ok=True)
    claimed = outbound / "processing" / response
    os.replace(outbound / response, claimed)
    age(claimed, 5)
    return claimed


async def assert_published_once(
    settings: Settings, orders: list[str], submitted: list[dict[str, Any]]
) -> None:
    found = Counter((s["orderId"], s["status"]) for s in await statuses(settings))
    assert found == Counter({**{(o, "PENDING"): 1 for o in orders}, **{(o, "SUBMITTED"): 1 for o in orders}})
    pending = {s["orderId"]: s["eventId"] for s in await statuses(settings) if s["status"] == "PENDING"}
    assert all(s["eventId"] == pending[s["orderId"]] for s in submitted)  # matched via the durable registry


async def test_a_dead_workers_claim_is_reclaimed_and_published_once(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    assert sftp_sandbox.sftp is not None
    outbound = sftp_sandbox.sftp.server.users["merchant"].outbound
    settings = settings_for(broker, sftp_sandbox, max_records=3, claim_timeout_seconds=1.0)
    orders = ["R-1", "R-2", "R-3"]
    response = await upload_and_die_before_claiming(settings, sftp_sandbox, orders)
    claimed = claim_long_ago(outbound, response)

    async with Running(settings) as path:
        submitted = await until_statuses(settings, "SUBMITTED", 3)

        async def moved_to_done() -> bool:  # after the statuses: the registry entry, then the rename
            return (outbound / "done" / response).exists() and not claimed.exists()

        await wait_for(moved_to_done, 20, "the reclaimed file to move to done/")
        assert path.poller.reclaimed == 1 and path.registry.answered(
            response.replace(".response.csv", ".json")
        )
        # A worker that published and died before moving the file on: handled again, published never.
        shutil.copy(outbound / "done" / response, claimed)
        age(claimed, 5)

        async def reclaimed_again() -> bool:
            return path.poller.reclaimed == 2 and not claimed.exists() and path.poller.handled >= 2

        await wait_for(reclaimed_again, 20, "the second claim to be reclaimed and handled")
    await assert_published_once(settings, orders, submitted)
    assert list((outbound / "processing").iterdir()) == []
