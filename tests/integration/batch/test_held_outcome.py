"""An outcome webhook that arrives before the batch response file is read waits for the batch's
SUBMITTED: the receiver answers it 503 until the result is on orders.status, and Flex's retry is
published after it. The sandbox settles its batch orders as soon as it has written the response
file (within 0.2 s of the upload: often before the worker's orders.status follower has read the
PENDING back, so the uploader's own hold is what holds them); the worker reads response files only
once they are 2 s old, so every webhook comes first."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.order_machine import apply_status
from schemas.order_state import OrderState
from schemas.status import OrderStatus
from streams.local.broker import EmbeddedBroker
from streams.local.procs import free_port
from streams.local.traffic import make_event
from tests.conftest import Stack
from tests.flows import ready
from tests.support import Sandbox, produce, read_all, values, wait_for
from tests.webhook_support import CURRENT_KEY

pytestmark = pytest.mark.integration

OUTCOMES = {"APPROVED", "EXPIRED"}


@pytest.fixture
def early_webhooks(broker: EmbeddedBroker, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    state, port = tmp_path / "sandbox-state", free_port()
    sandbox = Sandbox(
        log_dir,
        *("--sftp-port", "0", "--state-dir", str(state), "--sftp-settle", "0"),
        *("--webhook-url", f"http://127.0.0.1:{port}/webhooks/flex", "--subscriber-key", CURRENT_KEY),
        *("--webhook-backoff", "0.5", "--webhook-max-attempts", "12"),
    )
    sftp_port = sandbox.process.wait_line(r"sftp listening on 127\.0\.0\.1:(\d+)", 10).group(1)
    stack = Stack(broker, sandbox, log_dir)
    stack.env.update(
        {
            "FLEXBRIDGE_ROUTING__MIT": "sftp",
            "FLEXBRIDGE_SFTP__PORT": sftp_port,
            "FLEXBRIDGE_SFTP__KEY_PATH": str(state / "client_key"),
            "FLEXBRIDGE_SFTP__KNOWN_HOSTS": str(state / "known_hosts"),
            "FLEXBRIDGE_BATCH__MAX_AGE_SECONDS": "0.5",
            "FLEXBRIDGE_BATCH__POLL_INTERVAL_SECONDS": "1",
            "FLEXBRIDGE_BATCH__MIN_AGE_SECONDS": "2",
            "FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY": CURRENT_KEY,
            "FLEXBRIDGE_WEBHOOK__HOST": "127.0.0.1",
            "FLEXBRIDGE_WEBHOOK__PORT": str(port),
        }
    )
    try:
        yield stack
    finally:
        stack.close()
        sandbox.process.stop()


def _in_order(statuses: list[dict[str, Any]]) -> list[str]:
    """The illegal moves the order machine finds, replaying the statuses in topic order."""
    states: dict[str, OrderState | None] = {}
    illegal = []
    for raw in statuses:
        status = OrderStatus.model_validate(raw)
        state, verdict = apply_status(states.get(status.order_id), status)
        states[status.order_id] = state
        if verdict == "illegal":
            illegal.append(f"{status.order_id}: {state.history[-1].note}")
    return illegal


async def test_an_outcome_webhook_before_the_response_file_is_published_after_submitted(
    early_webhooks: Stack,
) -> None:
    stack = early_webhooks
    await ready(stack.worker())
    rng = random.Random(11)
    mits = [f"H-{i}" for i in range(4)]
    await produce(
        stack.bootstrap, stack.topics["declined"], [(o, make_event("mit-rebill", o, rng)) for o in mits]
    )

    async def outcomes() -> list[dict[str, Any]] | None:
        found = [
            s for s in values(await read_all(stack.bootstrap, stack.topics["status"])) if s["orderId"] in mits
        ]
        done = {s["orderId"] for s in found if s["source"] == "webhook" and s["status"] in OUTCOMES}
        return found if done == set(mits) else None

    found = await wait_for(outcomes, 90, "every batch order's webhook outcome", every=0.5)
    assert _in_order(found) == []
    for order in mits:
        mine = [(s["status"], s["source"]) for s in found if s["orderId"] == order]
        assert mine[:2] == [("PENDING", "batch"), ("SUBMITTED", "batch")], mine
        assert len(mine) == 3 and mine[2][1] == "webhook" and mine[2][0] in OUTCOMES, mine
    deliveries = stack.sandbox.call("GET", "/_sandbox/webhooks")["webhooks"]
    ours = [d for d in deliveries if d["payload"].get("ExternalOrderId") in mits]
    assert {d["state"] for d in ours} == {"delivered"}
    held = [d for d in ours if d["attempts"][0]["status"] == 503]  # it came before the file was read
    assert len(held) == len(mits), [d["attempts"] for d in ours]
