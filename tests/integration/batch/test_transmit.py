"""`flexbridge worker` with FLEXBRIDGE_ROUTING__TRANSMIT=sftp against `flexbridge sandbox --sftp-port`:
approvals travel as `transmit_` batch files, never as POST /v1/transmit, and none is lost or doubled."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from streams.local.traffic import make_event
from tests.conftest import Stack
from tests.flows import ready
from tests.integration.batch.test_worker import sftp_stack
from tests.support import produce, read_all, wait_for

pytestmark = pytest.mark.integration
__all__ = ["sftp_stack"]

APPROVALS = 2100  # one partition: a full file of Flex's 2000-row limit, then the rest by the clock


def merchant_dir(stack: Stack) -> Path:
    return Path(stack.env["FLEXBRIDGE_SFTP__KEY_PATH"]).parent / "sftp" / "merchant"


async def test_approvals_routed_to_sftp_become_transmit_files_exactly_once(sftp_stack: Stack) -> None:
    worker = sftp_stack.worker(FLEXBRIDGE_ROUTING__TRANSMIT="sftp", FLEXBRIDGE_BATCH__MAX_AGE_SECONDS="3")
    await ready(worker)
    rng = random.Random(11)
    orders = [f"T-{i:05d}" for i in range(APPROVALS)]
    events: list[tuple[str | None, Any]] = [("K", make_event("approval", o, rng)) for o in orders]
    await produce(sftp_stack.bootstrap, sftp_stack.topics["approved"], events)
    done = merchant_dir(sftp_stack) / "outbound" / "done"

    async def answered() -> list[Path] | None:
        files = sorted(done.glob("transmit_*.response.csv")) if done.is_dir() else []
        return files if len(files) >= 2 else None

    await wait_for(answered, 60, "both transmit response files handled by the poller", every=0.3)
    batches = sftp_stack.sandbox.call("GET", "/_sandbox/batches")["batches"]
    assert [b["kind"] for b in batches] == ["transmit", "transmit"]
    assert sorted(b["records"] for b in batches) == [APPROVALS - 2000, 2000]
    assert all(b["error"] is None and b["accepted"] == b["records"] for b in batches)
    sent: list[str] = []
    for path in sorted((merchant_dir(sftp_stack) / "inbound" / "processed").glob("transmit_*.json")):
        document = orjson.loads(path.read_bytes())
        assert document["header"]["authorization"].startswith("Bearer ") and document["header"]["mid"]
        records = document["records"]
        assert [r["sequenceNumber"] for r in records] == [str(i) for i in range(1, len(records) + 1)]
        assert all(r["isDeclined"] is False for r in records)
        sent.extend(r["orderId"] for r in records)
    assert Counter(sent) == Counter(orders)  # every approval once: none lost, none doubled
    assert sftp_stack.sandbox.journal("/v1/transmit") == []  # nothing went to the API
    assert await read_all(sftp_stack.bootstrap, sftp_stack.topics["dlq"]) == []
    assert await read_all(sftp_stack.bootstrap, sftp_stack.topics["status"]) == []  # copies: no status
    async with httpx.AsyncClient(timeout=5) as http:
        metrics = (await http.get(worker.url + "/metrics")).text
    approved = sftp_stack.topics["approved"]
    events = f'flexbridge_events_out_total{{merchant="default",outcome="routed-sftp",topic="{approved}"}}'
    assert f"{events} {APPROVALS}.0" in metrics
    assert f'flexbridge_batch_results_total{{merchant="default",status="SUCCESS"}} {APPROVALS}.0' in metrics
    assert 'flexbridge_batch_files_total{kind="transmit",merchant="default"} 2.0' in metrics
