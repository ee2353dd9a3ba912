"""`flexbridge worker` with FLEXBRIDGE_ROUTING__MIT=sftp against `flexbridge sandbox --sftp-port`:
MIT declines travel as batch files and come back as statuses; CIT declines still use the API."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.local.broker import EmbeddedBroker
from streams.local.traffic import make_event
from tests.conftest import Stack
from tests.flows import ready
from tests.support import Sandbox, produce, read_all, values, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sftp_stack(broker: EmbeddedBroker, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    state = tmp_path / "sandbox-state"
    sandbox = Sandbox(log_dir, "--sftp-port", "0", "--state-dir", str(state), "--sftp-settle", "0.5")
    port = sandbox.process.wait_line(r"sftp listening on 127\.0\.0\.1:(\d+)", 10).group(1)
    stack = Stack(broker, sandbox, log_dir)
    stack.env.update(
        {
            "FLEXBRIDGE_ROUTING__MIT": "sftp",
            "FLEXBRIDGE_SFTP__PORT": port,
            "FLEXBRIDGE_SFTP__KEY_PATH": str(state / "client_key"),
            "FLEXBRIDGE_SFTP__KNOWN_HOSTS": str(state / "known_hosts"),
            "FLEXBRIDGE_BATCH__MAX_AGE_SECONDS": "1",
            "FLEXBRIDGE_BATCH__POLL_INTERVAL_SECONDS": "0.3",
            "FLEXBRIDGE_BATCH__MIN_AGE_SECONDS": "0",
        }
    )
    try:
        yield stack
    finally:
        stack.close()
        sandbox.process.stop()


async def test_mit_declines_go_through_sftp_batches_and_come_back_as_statuses(sftp_stack: Stack) -> None:
    worker = sftp_stack.worker()
    await ready(worker)
    rng = random.Random(7)
    mits = [f"W-{i}" for i in range(6)]
    events: list[tuple[str | None, Any]] = [(o, make_event("mit-rebill", o, rng)) for o in mits]
    events.append(("C-1", make_event("cit-challenge", "C-1", rng)))
    await produce(sftp_stack.bootstrap, sftp_stack.topics["declined"], events)

    async def settled() -> list[dict[str, Any]] | None:
        found = values(await read_all(sftp_stack.bootstrap, sftp_stack.topics["status"]))
        by_status = Counter(s["status"] for s in found)
        return found if by_status["SUBMITTED"] >= 6 and by_status["CHALLENGE"] >= 1 else None

    found = await wait_for(settled, 60, "batch and API statuses", every=0.3)
    batch = [s for s in found if s["source"] == "batch"]
    assert sorted(s["orderId"] for s in batch if s["status"] == "PENDING") == mits
    assert sorted(s["orderId"] for s in batch if s["status"] == "SUBMITTED") == mits
    assert [s["orderId"] for s in found if s["source"] == "evaluate"] == ["C-1"]  # CIT stays real-time
    evaluate_calls = sftp_stack.sandbox.journal("/v1/evaluate")
    assert [c["body"]["orderId"] for c in evaluate_calls] == ["C-1"]  # no MIT went to the API
    batches = sftp_stack.sandbox.call("GET", "/_sandbox/batches")["batches"]
    assert sum(b["accepted"] for b in batches) == 6
