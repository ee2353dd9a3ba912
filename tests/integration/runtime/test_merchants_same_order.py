"""Two merchants with the same orderId, one worker: real broker, a worker process reading the
merchants file, the sandbox in multi-merchant mode over HTTP. Each merchant's order gets its own
statuses from its own call under its own token; a webhook on one merchant's path moves only its
order; a command without ``mid`` is REJECTED as ambiguous, and with ``mid`` reaches that
merchant's order at Flex. A command without ``mid`` finds its merchant through its order, so one read
before its order's status is folded (after a restart the order-state agent folds the statuses since
the last commit while the command agent already runs) waits for it: here a backlog of statuses in
the order's partition keeps the agent busy while the command comes in right behind the order's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from consumers.webhooks.signature import http_date, new_nonce, sign
from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from streams.runtime.reconcile import partition_of
from tests.integration.runtime.test_command_behind import evaluated
from tests.integration.runtime.test_merchants_flows import Bridge, running_bridge, worker_file
from tests.sandbox.merchants_support import ACME, BOLT, MerchantSpec, merchant_event, merchants_sandbox
from tests.support import produce, run_flexbridge, unique, values, wait_for

pytestmark = pytest.mark.integration

BACKLOG = 3000  # statuses of other orders ahead of the order's own: seconds of folding
PARTITIONS = 2  # Bridge's FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    async with merchants_sandbox(tmp_path / "sandbox") as running:
        yield running


async def view(bridge: Bridge, order_id: str, mid: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.get(f"{bridge.url}/orders/{order_id}", params={"mid": mid} if mid else None)


async def status_of_order(
    bridge: Bridge, order_id: str, merchant: MerchantSpec, status: str
) -> dict[str, Any]:
    """Once the worker's order table shows ``merchant``'s order ``order_id`` in ``status``."""

    async def probe() -> dict[str, Any] | None:
        answer = await view(bridge, order_id, merchant.mid)
        body: dict[str, Any] = answer.json()
        return body if answer.status_code == 200 and body.get("status") == status else None

    return await wait_for(probe, 60, f"{merchant.name}'s order {order_id} {status}", every=0.05)


async def webhook(bridge: Bridge, merchant: MerchantSpec, order_id: str, session: str) -> tuple[int, str]:
    """A signed ``order.completed`` on ``merchant``'s path."""
    body = orjson.dumps(
        {
            "Event": "order.completed",
            "TimeStamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "EventData": None,
            "ExternalOrderId": order_id,
            "OrderId": session,
            "ConfirmationId": "22ACD1D9",
            "IsTestMode": True,
            "IsResent": False,
        }
    )
    host = bridge.url.removeprefix("http://")
    headers = sign(body, key_b64=merchant.subscriber_key, host=host, date=http_date(), nonce=new_nonce())
    headers |= {"Content-Type": "text/plain; charset=utf-8"}
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(f"{bridge.url}/webhooks/flex/{merchant.name}", content=body, headers=headers)
    return answer.status_code, answer.json()["status"]


async def test_two_merchants_with_one_order_id_keep_two_orders(
    broker: EmbeddedBroker, sandbox: RunningSandbox, tmp_path: Path, log_dir: Path
) -> None:
    async with running_bridge(broker, sandbox, worker_file(tmp_path), log_dir) as bridge:
        order = unique("SAME")
        events: list[tuple[str | None, Any]] = [(order, _event(order, m)) for m in (ACME, BOLT)]
        await produce(bridge.bootstrap, bridge.topics["declined"], events)
        sessions = await _each_merchant_evaluated(bridge, order)
        await _a_webhook_moves_its_merchants_order_only(bridge, order, sessions)
        await _a_command_without_mid_is_ambiguous_and_one_with_mid_reaches_its_order(bridge, order, sessions)
        code, out, _ = await run_flexbridge(bridge.env, "order", order, "--url", bridge.url)
        assert code == 0 and f"2 merchants have an order {order}" in out, out
        assert ACME.name in out and BOLT.name in out
        await _the_order_cli_shows_one_merchants_order_by_its_name(bridge, order)


async def _the_order_cli_shows_one_merchants_order_by_its_name(bridge: Bridge, order: str) -> None:
    code, out, err = await run_flexbridge(
        bridge.env, "order", order, "--merchant", BOLT.name, "--url", bridge.url
    )
    assert code == 0 and "merchants have an order" not in out, (out, err)
    assert f"{BOLT.name} (mid {BOLT.mid})" in out and ACME.mid not in out, out
    code, out, err = await run_flexbridge(
        bridge.env, "order", order, "--merchant", "nobody", "--url", bridge.url
    )
    assert (code, out) == (2, "") and "no merchant named 'nobody'" in err and ACME.name in err, err


def _event(order: str, merchant: MerchantSpec) -> dict[str, Any]:
    """``merchant``'s decline of ``order`` (each event has its own eventId, as the contract asks)."""
    event = merchant_event("cit-capture", order, merchant.mid)
    return {**event, "eventId": f"{event['eventId']}-{merchant.name}"}


async def _each_merchant_evaluated(bridge: Bridge, order: str) -> dict[str, str]:
    """Each merchant's own /evaluate, under its own token, and its own status: mid → session."""

    async def both() -> list[dict[str, Any]] | None:
        mine = [s for s in values(await bridge.records("status")) if s["orderId"] == order]
        return mine if len(mine) == 2 else None

    statuses = await wait_for(both, 60, "both merchants' statuses")
    assert sorted(s["detail"]["mid"] for s in statuses) == sorted([ACME.mid, BOLT.mid])
    assert {s["status"] for s in statuses} == {"CAPTUREREQUIRED"}
    sessions = {s["detail"]["mid"]: s["orderSessionKey"] for s in statuses}
    assert len(set(sessions.values())) == 2  # two orders at Flex
    calls = [c for c in await bridge.journal("/v1/evaluate") if c["body"]["orderId"] == order]
    assert sorted((c["mid"], c["body"]["mid"], c["status"]) for c in calls) == sorted(
        [(ACME.mid, ACME.mid, 200), (BOLT.mid, BOLT.mid, 200)]
    )
    for merchant in (ACME, BOLT):
        state = await status_of_order(bridge, order, merchant, "CAPTUREREQUIRED")
        assert state["mid"] == merchant.mid and state["orderSessionKey"] == sessions[merchant.mid]
    listed = (await view(bridge, order)).json()
    assert sorted(o["mid"] for o in listed["orders"]) == sorted([ACME.mid, BOLT.mid])
    return sessions


async def _a_webhook_moves_its_merchants_order_only(
    bridge: Bridge, order: str, sessions: dict[str, str]
) -> None:
    assert await webhook(bridge, ACME, order, sessions[ACME.mid]) == (200, "accepted")
    await status_of_order(bridge, order, ACME, "APPROVED")
    bolt = (await view(bridge, order, BOLT.mid)).json()
    assert bolt["status"] == "CAPTUREREQUIRED" and [h["source"] for h in bolt["history"]] == ["evaluate"]
    hooked = [
        s
        for s in values(await bridge.records("status"))
        if s["orderId"] == order and s["source"] == "webhook"
    ]
    assert [(s["status"], s["detail"]["mid"]) for s in hooked] == [("APPROVED", ACME.mid)]


async def _a_command_without_mid_is_ambiguous_and_one_with_mid_reaches_its_order(
    bridge: Bridge, order: str, sessions: dict[str, str]
) -> None:
    vague = {"commandId": unique("cmd"), "type": "cancel", "orderId": order}
    aimed = {"commandId": unique("cmd"), "type": "cancel", "orderId": order, "mid": BOLT.mid}
    await produce(bridge.bootstrap, bridge.topics["commands"], [(order, vague), (order, aimed)])
    ids = {vague["commandId"], aimed["commandId"]}

    async def answered() -> dict[str, dict[str, Any]] | None:
        got = {s["eventId"]: s for s in values(await bridge.records("status")) if s["eventId"] in ids}
        return got if len(got) == len(ids) else None

    answers = await wait_for(answered, 60, "the command answers")
    rejected, cancelled = answers[vague["commandId"]], answers[aimed["commandId"]]
    assert rejected["status"] == "REJECTED", rejected
    assert rejected["reason"] == f"ambiguous-order: orderId {order} exists for merchants acme, bolt; give mid"
    assert cancelled["status"] == "CANCELLED" and cancelled["detail"]["mid"] == BOLT.mid, cancelled
    [call] = await bridge.journal(f"/v1/orders/{sessions[BOLT.mid]}/cancel")
    assert call["mid"] == BOLT.mid and call["status"] == 200
    assert await bridge.journal(f"/v1/orders/{sessions[ACME.mid]}/cancel") == []
    await status_of_order(bridge, order, BOLT, "CANCELLED")
    assert (await view(bridge, order, ACME.mid)).json()["status"] == "APPROVED"


def _status(order: str, status: str, session: str) -> dict[str, Any]:
    """An ``evaluate`` status of ACME's order ``order`` (its merchant named by ``detail.mid``)."""
    return evaluated(order, status, session, mid=ACME.mid)


def _in_partition(partition: int, tag: str) -> str:
    while partition_of(order := unique(tag), PARTITIONS) != partition:
        pass
    return order


async def test_a_command_read_before_its_orders_status_is_folded_waits_for_it(
    broker: EmbeddedBroker, sandbox: RunningSandbox, tmp_path: Path, log_dir: Path
) -> None:
    async with running_bridge(broker, sandbox, worker_file(tmp_path), log_dir) as bridge:
        order, session = unique("FOLD"), str(uuid.uuid4())
        home = partition_of(order, PARTITIONS)
        backlog = [
            (o, _status(o, "PENDING", str(uuid.uuid4())))
            for o in (_in_partition(home, "BACK") for _ in range(BACKLOG))
        ]
        await produce(
            bridge.bootstrap,
            bridge.topics["status"],
            [*backlog, (order, _status(order, "CAPTUREREQUIRED", session))],
        )
        command = {"commandId": unique("cmd"), "type": "cancel", "orderId": order}  # no mid
        await produce(bridge.bootstrap, bridge.topics["commands"], [(order, command)])

        async def answered() -> dict[str, Any] | None:
            found = [
                s for s in values(await bridge.records("status")) if s["eventId"] == command["commandId"]
            ]
            return found[0] if found else None

        answer = await wait_for(answered, 90, "the command's answer")
        # ACME's order, found once folded: the cancel went to Flex as ACME (the sandbox has no such
        # Flex order, so it refuses it), never as an unknown order
        assert "unknown-order" not in str(answer.get("reason")), answer
        assert answer["detail"].get("mid") == ACME.mid, answer
        [call] = await bridge.journal(f"/v1/orders/{session}/cancel")
        assert call["mid"] == ACME.mid
