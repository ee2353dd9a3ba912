"""The real-time flows with three merchants: real broker, a worker process reading the merchants
file, the sandbox in multi-merchant mode over HTTP. Each merchant's events reach Flex under its own
token and mid; an unknown mid is dead-lettered; commands run as their order's merchant; a merchant
whose credentials are refused, or whose calls all fail, does not hold back the others; a secret
rotated in its app_secret_file is taken by the running worker."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from streams.local.procs import free_port
from tests.sandbox.merchants_support import (
    ACME,
    BOLT,
    CORA,
    MERCHANTS,
    MerchantSpec,
    merchant_event,
    merchants_sandbox,
)
from tests.support import (
    QUICK_KAFKA,
    child,
    flexbridge,
    produce,
    read_all,
    run_flexbridge,
    unique,
    values,
    wait_for,
)

pytestmark = pytest.mark.integration

NAMES = ("approved", "declined", "commands", "status", "webhooks", "dlq", "ledger", "audit", "batches")


class Bridge:
    """One worker process over the merchants file ``merchants`` (topics and group of its own)."""

    def __init__(
        self, broker: EmbeddedBroker, sandbox: RunningSandbox, merchants: Path, log_dir: Path
    ) -> None:
        tag = unique("m")
        self.bootstrap, self.sandbox = broker.bootstrap, sandbox
        self.topics = {name: f"{tag}.{name}" for name in NAMES}
        self.env = {
            "FLEXBRIDGE_MERCHANTS_FILE": str(merchants),
            "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
            "FLEXBRIDGE_KAFKA__GROUP_ID": tag,
            "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE": "false",
            "FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS": "2",
            "FLEXBRIDGE_FLEX__BASE_URL": sandbox.url,
            "FLEXBRIDGE_FLEX__DEADLINE_SECONDS": "3",
            "FLEXBRIDGE_FLEX__BACKOFF_MAX_SECONDS": "0.5",
            "FLEXBRIDGE_ROUTING__MIT": "api",
            "FLEXBRIDGE_ROUTING__TRANSMIT": "api",
            "FLEXBRIDGE_PIPELINE__MAX_IN_FLIGHT": "16",
            **QUICK_KAFKA,
        } | {f"FLEXBRIDGE_TOPICS__{k.upper()}": v for k, v in self.topics.items()}
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**self.env, "FLEXBRIDGE_WEB__PORT": str(port)}
        self.process = child("worker", flexbridge("worker", "--loglevel", "info"), env, log_dir)

    async def ready(self) -> None:
        """Until the worker is ready (the sandbox runs in this loop: wait in a thread)."""
        await asyncio.to_thread(self.process.wait_ready, self.url + "/ready", 90)

    async def records(self, topic: str) -> list[Any]:
        return await read_all(self.bootstrap, self.topics[topic])

    async def statuses(self, order_ids: set[str], timeout: float = 60) -> dict[str, dict[str, Any]]:
        """The latest status of each of ``order_ids``, once every one has one."""

        async def probe() -> dict[str, dict[str, Any]] | None:
            got = {s["orderId"]: s for s in values(await self.records("status")) if s["orderId"] in order_ids}
            return got if set(got) == order_ids else None

        return await wait_for(probe, timeout, f"statuses of {len(order_ids)} orders", every=0.05)

    async def journal(self, path: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.sandbox.base_url, timeout=10) as http:
            entries: list[dict[str, Any]] = (
                await http.get("/_sandbox/requests", params={"path": path})
            ).json()["requests"]
        return entries


@asynccontextmanager
async def running_bridge(
    broker: EmbeddedBroker, sandbox: RunningSandbox, merchants: Path, log_dir: Path
) -> AsyncIterator[Bridge]:
    """A :class:`Bridge` once its worker is ready, stopped on the way out."""
    bridge = Bridge(broker, sandbox, merchants, log_dir)
    try:
        await bridge.ready()
        yield bridge
    finally:
        bridge.process.stop()


def orders_of(merchants: tuple[MerchantSpec, ...], count: int, tag: str) -> list[tuple[str, MerchantSpec]]:
    """``count`` orders per merchant, interleaved: a, b, c, a, b, c …"""
    return [(f"{tag}-{m.name}-{i}", m) for i in range(count) for m in merchants]


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    async with merchants_sandbox(tmp_path / "sandbox") as running:
        yield running


def worker_file(tmp_path: Path, refused: str | None = None) -> Path:
    """The sandbox's merchants file, with ``refused``'s app secret wrong in the worker's copy."""
    text = (tmp_path / "sandbox" / "merchants.toml").read_text()
    if refused is not None:
        secret = tmp_path / "sandbox" / f"{refused}_app_secret"
        text = text.replace(f'app_secret_file = "{secret}"', 'app_secret = "not-the-secret"')
    path = tmp_path / "worker-merchants.toml"
    path.write_text(text)
    return path


async def test_each_merchants_events_reach_flex_under_its_token_and_mid(
    broker: EmbeddedBroker, sandbox: RunningSandbox, tmp_path: Path, log_dir: Path
) -> None:
    async with running_bridge(broker, sandbox, worker_file(tmp_path), log_dir) as bridge:
        declines = orders_of(MERCHANTS, 6, "d")
        approvals = orders_of(MERCHANTS, 4, "a")
        await _produce_traffic(bridge, declines, approvals)
        statuses = await bridge.statuses({o for o, _ in declines})
        assert {s["status"] for s in statuses.values()} == {"CAPTUREREQUIRED"}
        assert all(statuses[o]["detail"]["mid"] == m.mid for o, m in declines)
        mids = {o: m.mid for o, m in declines + approvals}

        async def transmitted() -> list[dict[str, Any]] | None:
            entries = await bridge.journal("/v1/transmit")
            return entries if len(entries) >= len(approvals) else None

        for entry in await bridge.journal("/v1/evaluate") + await wait_for(transmitted, 60, "transmits"):
            order_id = entry["body"]["orderId"]
            assert entry["status"] == 200 and entry["mid"] == entry["body"]["mid"] == mids[order_id], entry
        assert len(await bridge.journal("/v1/evaluate")) == len(declines)
        await _the_stray_is_dead_lettered(bridge)
        await _commands_run_as_their_orders_merchant(bridge, statuses, declines)


async def _produce_traffic(
    bridge: Bridge, declines: list[tuple[str, MerchantSpec]], approvals: list[tuple[str, MerchantSpec]]
) -> None:
    """The merchants' declines and approvals, one decline of a mid that is no merchant's, and one of
    BOLT's (its mid in upper case) that holds a card number."""
    await produce(
        bridge.bootstrap,
        bridge.topics["declined"],
        [(o, merchant_event("cit-capture", o, m.mid)) for o, m in declines],
    )
    await produce(
        bridge.bootstrap,
        bridge.topics["approved"],
        [(o, merchant_event("approval", o, m.mid)) for o, m in approvals],
    )
    await produce(
        bridge.bootstrap,
        bridge.topics["declined"],
        [("stray", merchant_event("cit-declined", "stray", "mid-nobody"))],
    )
    carded = merchant_event("cit-declined", "carded", BOLT.mid.upper())
    carded["paymentMethod"] = {**carded["paymentMethod"], "cardNumber": "4111111111111111"}
    await produce(bridge.bootstrap, bridge.topics["declined"], [("carded", carded)])


async def _the_stray_is_dead_lettered(bridge: Bridge) -> None:
    """The stray as no merchant's; the card-bearing decline as BOLT's, in its header and metrics."""

    async def both() -> list[Any] | None:
        dead = await bridge.records("dlq")
        return dead if len(dead) >= 2 else None

    dead = {r.key: dict(r.headers) for r in await wait_for(both, 30, "the two dead letters")}
    assert set(dead) == {b"stray", b"carded"}
    stray, carded = dead[b"stray"], dead[b"carded"]
    assert stray["dlq-reason"] == b"unknown-merchant"
    assert b"mid-nobody" in stray["dlq-error"] and "dlq-merchant" not in stray
    assert (carded["dlq-reason"], carded["dlq-merchant"]) == (b"pan-detected", BOLT.name.encode())
    async with httpx.AsyncClient(timeout=5) as http:
        metrics = (await http.get(f"{bridge.url}/metrics")).text
    assert f'flexbridge_dlq_total{{merchant="{BOLT.name}",reason="pan-detected"}} 1.0' in metrics
    assert 'flexbridge_dlq_total{merchant="(unknown)",reason="unknown-merchant"} 1.0' in metrics
    code, out, err = await run_flexbridge(bridge.env, "dlq", "list", "--merchant", BOLT.name, "--json")
    assert code == 0, err
    listed = orjson.loads(out)
    assert [(g["reason"], g["merchants"]) for g in listed["reasons"]] == [("pan-detected", {BOLT.name: 1})]


async def _commands_run_as_their_orders_merchant(
    bridge: Bridge, statuses: dict[str, dict[str, Any]], declines: list[tuple[str, MerchantSpec]]
) -> None:
    targets = {m.name: o for o, m in declines}  # one order of each merchant
    commands: list[tuple[str | None, Any]] = [
        (o, {"commandId": unique("cmd"), "type": "cancel", "orderId": o})
        for o in [*targets.values(), "ORD-unknown"]
    ]

    async def known() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            views = [await http.get(f"{bridge.url}/orders/{o}") for o in targets.values()]
        return all(v.status_code == 200 and v.json().get("mid") for v in views)

    await wait_for(known, 60, "the orders' merchants in the order state")
    await produce(bridge.bootstrap, bridge.topics["commands"], commands)
    ids = {c["commandId"]: str(o) for o, c in commands}

    async def answered() -> dict[str, dict[str, Any]] | None:
        got = {s["eventId"]: s for s in values(await bridge.records("status")) if s["eventId"] in ids}
        return got if len(got) == len(ids) else None

    answers = await wait_for(answered, 60, "the command answers")
    by_order = {ids[c]: a for c, a in answers.items()}
    assert by_order["ORD-unknown"]["status"] == "REJECTED"
    assert "merchant is not known" in by_order["ORD-unknown"]["reason"]
    mids = {m.name: m.mid for m in MERCHANTS}
    for name, order_id in targets.items():
        assert by_order[order_id]["status"] == "CANCELLED", by_order[order_id]
        session = statuses[order_id]["orderSessionKey"]
        [call] = await bridge.journal(f"/v1/orders/{session}/cancel")
        assert call["mid"] == mids[name] and call["status"] == 200


async def _good_latency(bridge: Bridge, tag: str, bad: MerchantSpec | None) -> tuple[float, int]:
    """Seconds until every good merchant's decline of one round has its status; the bad merchant's
    declines (when given, interleaved) must reach their own FAILED outcome too."""
    good = orders_of((ACME, BOLT), 10, tag)
    bads = orders_of((bad,), 40, tag) if bad is not None else []  # a flood: more than the slots
    items: list[tuple[str | None, Any]] = [
        (o, merchant_event("cit-capture", o, m.mid)) for o, m in good + bads
    ]
    random.Random(tag).shuffle(items)
    started = time.monotonic()
    await produce(bridge.bootstrap, bridge.topics["declined"], items)
    await bridge.statuses({o for o, _ in good})
    seconds = time.monotonic() - started
    if bads:
        failed = await bridge.statuses({o for o, _ in bads}, timeout=120)
        assert {s["status"] for s in failed.values()} == {"FAILED"}
    return seconds, len(bads)


@pytest.mark.parametrize("trouble", ["refused-credentials", "all-5xx"])
async def test_a_bad_merchant_does_not_hold_back_the_others(
    broker: EmbeddedBroker, sandbox: RunningSandbox, tmp_path: Path, log_dir: Path, trouble: str
) -> None:
    refused = CORA.name if trouble == "refused-credentials" else None
    async with running_bridge(broker, sandbox, worker_file(tmp_path, refused), log_dir) as bridge:
        alone, _ = await _good_latency(bridge, "alone", None)
        if trouble == "all-5xx":
            async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as http:
                fault = {"rate": 1.0, "statuses": [503], "retryAfterSeconds": 0, "merchants": [CORA.name]}
                assert (await http.post("/_sandbox/faults", json=fault)).status_code == 200
        beside, bad_count = await _good_latency(bridge, "beside", CORA)
        print(  # noqa: T201  # the figure the test records
            f"\n[{trouble}] good merchants' 20 declines: {alone:.2f} s alone, "
            f"{beside:.2f} s beside {bad_count} declines of a merchant with {trouble}"
        )
        dead = values_with_reason(await bridge.records("dlq"))
        expected = "flex-auth" if refused else "retries-exhausted"
        assert dead.get(expected, 0) == bad_count and set(dead) == {expected}


def values_with_reason(records: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        reason = dict(record.headers)["dlq-reason"].decode()
        counts[reason] = counts.get(reason, 0) + 1
    return counts


async def test_a_merchants_app_secret_rotated_in_its_file_is_taken_without_a_restart(
    broker: EmbeddedBroker, sandbox: RunningSandbox, tmp_path: Path, log_dir: Path
) -> None:
    """cora's secret was rotated at Flex; its mounted file still holds the old one, so its decline is
    FAILED (flex-auth). Once the file holds the new secret, cora's declines are evaluated again by the
    same worker process."""
    mounted = tmp_path / "mounted" / "app_secret"
    mounted.parent.mkdir()
    mounted.write_text("the-secret-before-the-rotation\n")
    text = (tmp_path / "sandbox" / "merchants.toml").read_text()
    path = tmp_path / "worker-merchants.toml"
    path.write_text(text.replace(str(tmp_path / "sandbox" / "cora_app_secret"), str(mounted)))

    async def decline(order: str) -> dict[str, Any]:
        await produce(
            bridge.bootstrap,
            bridge.topics["declined"],
            [(order, merchant_event("cit-approved", order, CORA.mid))],
        )
        return (await bridge.statuses({order}))[order]

    async with running_bridge(broker, sandbox, path, log_dir) as bridge:
        refused = await decline(unique("rot"))
        assert refused["status"] == "FAILED" and "refused the credentials" in refused["reason"]
        mounted.write_text(f"{CORA.app_secret}\n")

        async def evaluated() -> dict[str, Any] | None:  # a refusal is held before Flex is asked again
            status = await decline(unique("rot"))
            return status if status["status"] != "FAILED" else None

        status = await wait_for(evaluated, 60, "a decline of cora evaluated after the rotation", every=0.2)
        assert status["status"] == "APPROVED" and status["detail"]["mid"] == CORA.mid
        log = bridge.process.output()
    assert f"Flex took the app secret read again from {mounted}" in log
    assert CORA.app_secret not in log.replace(str(mounted), "")
