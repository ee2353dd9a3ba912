"""`flexbridge worker` with FLEXBRIDGE_ROUTING__MIT=sftp against `flexbridge sandbox --sftp-port`:
MIT declines travel as batch files and come back as statuses; CIT declines still use the API; a
managed MIT decline that is no valid event is dead-lettered once, by the batch path."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from streams.local.broker import EmbeddedBroker
from streams.local.traffic import make_event
from tests.conftest import Stack
from tests.conftest import sftp_stack as stack_with_sftp
from tests.flows import ready
from tests.support import produce, read_all, values, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sftp_stack(broker: EmbeddedBroker, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    with stack_with_sftp(broker, log_dir, tmp_path / "sandbox-state", "--sftp-settle", "0.5") as stack:
        stack.env["FLEXBRIDGE_ROUTING__MIT"] = "sftp"
        yield stack


async def test_mit_declines_go_through_sftp_batches_and_come_back_as_statuses(sftp_stack: Stack) -> None:
    worker = sftp_stack.worker()
    await ready(worker)
    rng = random.Random(7)
    mits = [f"W-{i}" for i in range(6)]
    events: list[tuple[str | None, Any]] = [(o, make_event("mit-rebill", o, rng)) for o in mits]
    events.append(("C-1", make_event("cit-challenge", "C-1", rng)))
    invalid, with_pan = make_event("mit-rebill", "X-1", rng), make_event("mit-rebill", "X-2", rng)
    invalid["eventId"] = ""  # type: ignore[index]
    with_pan["paymentMethod"]["cardNumber"] = "4111111111111111"  # type: ignore[index]
    events += [("X-1", invalid), ("X-2", with_pan)]
    await produce(sftp_stack.bootstrap, sftp_stack.topics["declined"], events)

    async def settled() -> list[dict[str, Any]] | None:
        found = values(await read_all(sftp_stack.bootstrap, sftp_stack.topics["status"]))
        by_status = Counter(s["status"] for s in found)
        return found if by_status["SUBMITTED"] >= 6 and by_status["CHALLENGE"] >= 1 else None

    found = await wait_for(settled, 60, "batch and API statuses", every=0.3)

    async def dead_lettered() -> list[ConsumerRecord[bytes, bytes]] | None:
        dead = await read_all(sftp_stack.bootstrap, sftp_stack.topics["dlq"])
        return dead if len(dead) >= 2 else None

    dead = await wait_for(dead_lettered, 30, "the two invalid MIT declines dead-lettered", every=0.3)
    reasons = sorted(dict(r.headers)["dlq-reason"] for r in dead)
    assert reasons == [b"pan-detected", b"schema"]  # once each, by whichever reader
    assert all(b"4111111111111111" not in (r.value or b"") for r in dead)  # the card number masked
    assert not any(s["orderId"].startswith("X-") for s in found)  # no status, no file
    batch = [s for s in found if s["source"] == "batch"]
    assert sorted(s["orderId"] for s in batch if s["status"] == "PENDING") == mits
    assert sorted(s["orderId"] for s in batch if s["status"] == "SUBMITTED") == mits
    assert [s["orderId"] for s in found if s["source"] == "evaluate"] == ["C-1"]  # CIT stays real-time
    evaluate_calls = sftp_stack.sandbox.journal("/v1/evaluate")
    assert [c["body"]["orderId"] for c in evaluate_calls] == ["C-1"]  # no MIT went to the API
    batches = sftp_stack.sandbox.call("GET", "/_sandbox/batches")["batches"]
    assert sum(b["accepted"] for b in batches) == 6
