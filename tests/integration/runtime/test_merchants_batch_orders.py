"""Orders that went by SFTP batch, with several merchants: a worker process over the merchants file,
the sandbox in multi-merchant mode (real SFTP, no webhooks). The batch statuses name each order's
merchant, reconciliation looks each order up as its merchant, and a refund command of each order
reaches Flex as that merchant (the sandbox journal's ``mid``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from streams.local.procs import free_port
from tests.integration.runtime.test_merchants_flows import NAMES
from tests.sandbox.merchants_support import ACME, BOLT, MerchantSpec, merchant_event, merchants_sandbox
from tests.support import QUICK_KAFKA, child, flexbridge, produce, read_all, unique, values, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    async with merchants_sandbox(tmp_path / "sandbox", sftp_settle_seconds=0.5) as running:
        yield running


def worker_env(broker: EmbeddedBroker, sandbox: RunningSandbox, tmp_path: Path) -> dict[str, str]:
    """Managed MIT by SFTP for every merchant; quick batches, polls and reconciliation."""
    assert sandbox.sftp is not None
    server, tag = sandbox.sftp.server, unique("mb")
    return {
        "FLEXBRIDGE_MERCHANTS_FILE": str(tmp_path / "sandbox" / "merchants.toml"),
        "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "FLEXBRIDGE_KAFKA__GROUP_ID": tag,
        "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE": "false",
        "FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS": "2",
        "FLEXBRIDGE_FLEX__BASE_URL": sandbox.url,
        "FLEXBRIDGE_FLEX__DEADLINE_SECONDS": "5",
        "FLEXBRIDGE_ROUTING__MIT": "sftp",
        "FLEXBRIDGE_SFTP__PORT": str(server.port),
        "FLEXBRIDGE_SFTP__KNOWN_HOSTS": str(server.known_hosts),
        "FLEXBRIDGE_BATCH__MAX_AGE_SECONDS": "1",
        "FLEXBRIDGE_BATCH__POLL_INTERVAL_SECONDS": "0.3",
        "FLEXBRIDGE_BATCH__MIN_AGE_SECONDS": "0",
        "FLEXBRIDGE_RECONCILE__AFTER_SECONDS": "1",
        "FLEXBRIDGE_RECONCILE__INTERVAL_SECONDS": "0.5",
        "FLEXBRIDGE_RECONCILE__BACKOFF_MAX_SECONDS": "1",
        "FLEXBRIDGE_RECONCILE__MAX_PER_SECOND": "50",
        **QUICK_KAFKA,
    } | {f"FLEXBRIDGE_TOPICS__{name.upper()}": f"{tag}.{name}" for name in NAMES}


def mit(order_id: str, mid: str) -> dict[str, Any]:
    """A managed-MIT decline of merchant ``mid`` whose card is on the sandbox's approve-list (its
    batch order settles APPROVED, so it can be refunded)."""
    event = merchant_event("mit-rebill", order_id, mid)
    event["paymentMethod"]["cardLast4Digits"] = "1111"
    return event


async def test_a_refund_of_an_order_sent_by_sftp_reaches_flex_as_its_merchant(
    broker: EmbeddedBroker, sandbox: RunningSandbox, tmp_path: Path, log_dir: Path
) -> None:
    env = worker_env(broker, sandbox, tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    worker = child("worker", flexbridge("worker"), {**env, "FLEXBRIDGE_WEB__PORT": str(port)}, log_dir)
    orders = {f"{m.name}-{unique('o')}": m for m in (ACME, BOLT)}
    try:
        await asyncio.to_thread(worker.wait_ready, url + "/ready", 90)
        items: list[tuple[str | None, Any]] = [("K", mit(o, m.mid)) for o, m in orders.items()]
        await produce(broker.bootstrap, env["FLEXBRIDGE_TOPICS__DECLINED"], items)
        sessions = await _approved_with_their_merchant(broker, env, orders)
        await _folded(url, set(orders), "APPROVED")  # a command is checked against the order table
        await _refunds_reach_flex_as_their_merchant(broker, sandbox, env, orders, sessions)
    finally:
        worker.stop()


async def _folded(worker_url: str, orders: set[str], status: str) -> None:
    """Until the worker's order table holds ``status`` for every order (GET /orders/{id})."""

    async def check() -> bool | None:
        async with httpx.AsyncClient(timeout=5) as http:
            for order_id in orders:
                answer = await http.get(f"{worker_url}/orders/{order_id}")
                if answer.status_code != 200 or answer.json().get("status") != status:
                    return None
        return True

    await wait_for(check, 60, f"the order table to hold {status} for {sorted(orders)}", every=0.5)


async def _statuses_of(broker: EmbeddedBroker, env: dict[str, str], orders: set[str]) -> list[dict[str, Any]]:
    found = values(await read_all(broker.bootstrap, env["FLEXBRIDGE_TOPICS__STATUS"]))
    return [s for s in found if s["orderId"] in orders]


async def _approved_with_their_merchant(
    broker: EmbeddedBroker, env: dict[str, str], orders: dict[str, MerchantSpec]
) -> dict[str, str]:
    """Until every order is SUBMITTED by its batch result, then APPROVED (by reconciliation); each
    batch status names the order's merchant. Returns each order's session key."""

    def reached(status: str) -> Any:
        async def check() -> list[dict[str, Any]] | None:
            found = await _statuses_of(broker, env, set(orders))
            done = {s["orderId"] for s in found if s["status"] == status}
            return found if done == set(orders) else None

        return check

    await wait_for(reached("SUBMITTED"), 60, "the batch results (SUBMITTED) of both orders", every=0.5)
    found = await wait_for(reached("APPROVED"), 60, "APPROVED (by reconciliation)", every=0.5)
    for s in found:  # every batch status names the order's merchant
        if s["source"] == "batch":
            assert s["detail"]["mid"] == orders[s["orderId"]].mid, s
    assert {s["status"] for s in found if s["source"] == "batch"} >= {"PENDING", "SUBMITTED"}
    return {s["orderId"]: s["orderSessionKey"] for s in found if s["status"] == "SUBMITTED"}


async def _refunds_reach_flex_as_their_merchant(
    broker: EmbeddedBroker,
    sandbox: RunningSandbox,
    env: dict[str, str],
    orders: dict[str, MerchantSpec],
    sessions: dict[str, str],
) -> None:
    refunds = {unique("refund"): o for o in orders}
    commands = [(o, {"commandId": c, "type": "refund", "orderId": o}) for c, o in refunds.items()]
    await produce(broker.bootstrap, env["FLEXBRIDGE_TOPICS__COMMANDS"], list(commands))

    async def answered() -> dict[str, dict[str, Any]] | None:
        status = values(await read_all(broker.bootstrap, env["FLEXBRIDGE_TOPICS__STATUS"]))
        got = {s["eventId"]: s for s in status}
        return got if set(refunds) <= set(got) else None

    answers = await wait_for(answered, 60, "the refund answers")
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as http:
        for command_id, order_id in refunds.items():
            assert answers[command_id]["status"] == "REFUNDED", answers[command_id]
            path = f"/v1/orders/{sessions[order_id]}/refund"
            journal = (await http.get("/_sandbox/requests", params={"path": path})).json()["requests"]
            [call] = journal
            assert call["status"] == 200 and call["mid"] == orders[order_id].mid
