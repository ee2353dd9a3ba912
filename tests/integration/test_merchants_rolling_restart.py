"""Onboarding a merchant by a rolling restart (docs/processors.md): two workers serve three merchants
on the same topics; a fourth is added to the merchants file and the workers are restarted one at a
time while the three keep publishing. Then the new merchant's events are published.

The sandbox serves all four from the start (the new one unused until then). Afterwards every event
of every merchant has exactly one outcome, each merchant reconciles on its own against what Flex saw
under its MID, the new merchant's MIT declines went up in its own SFTP account, and nothing of the
three is repeated at Flex (the journal's ``/v1/transmit`` and ``/v1/evaluate`` effects, each batch
record once): the chaos run's checker (bench/checker.py, bench/chaos_checks.py) proves it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from bench.chaos_checks import Lifecycle, batch_records_once
from bench.checker import attributed, check
from core.settings import TopicSettings
from streams.local.merchants import (
    DEMO_MERCHANTS,
    LocalMerchant,
    local_merchant,
    sftp_root,
    write_merchants_file,
)
from streams.local.procs import free_port
from streams.local.reconciliation import Observed, read_batch_transmits, read_observed, reconcile_merchants
from streams.local.stack import LocalStack
from streams.local.traffic import Planned, plan
from tests.support import restart_cleanly, wait_for

pytestmark = pytest.mark.integration

OLD = DEMO_MERCHANTS  # acme: MIT by SFTP; bolt: all by the API; cora: approvals in transmit_ files
NEW = LocalMerchant("dana", local_merchant(4).mid, {"mit": "sftp", "transmit": "api"})
TOPICS = TopicSettings()


async def _publish(bootstrap: str, planned: list[Planned], rate: float = 100.0) -> None:
    """Publish ``planned`` at about ``rate`` events/s (pacing the traffic, not waiting on a result)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        for p in planned:
            await producer.send(getattr(TOPICS, p.topic), p.value, p.key.encode())
            await asyncio.sleep(1 / rate)
        await producer.flush()
    finally:
        await producer.stop()


async def _observe(stack: LocalStack, planned: list[Planned]) -> tuple[Observed, Lifecycle]:
    async with httpx.AsyncClient(base_url=stack.sandbox_root, timeout=10) as http:
        journal = (await http.get("/_sandbox/requests")).json()["requests"]
        batches = (await http.get("/_sandbox/batches")).json()["batches"]
        orders = (await http.get("/_sandbox/orders")).json()["orders"]
    seen = await read_observed(stack.bootstrap, TOPICS.status, TOPICS.dlq, journal)
    seen.statuses = attributed(planned, seen.statuses)
    outbound = {m.mid: sftp_root(stack.state_dir, m) / "outbound" for m in (*OLD, NEW) if m.sftp}
    seen.batch_transmits = read_batch_transmits(outbound)  # cora's transmit_ files
    return seen, Lifecycle(batches=batches, orders=orders)


async def _settle(stack: LocalStack, planned: list[Planned]) -> tuple[Observed, Lifecycle]:
    """Wait until each merchant reconciles (a batch record's PENDING is no outcome yet); on timeout,
    fail naming what each merchant still lacks."""
    last: dict[str, Any] = {}

    async def settled() -> tuple[Observed, Lifecycle] | None:
        seen, lc = await _observe(stack, planned)
        results = reconcile_merchants(planned, seen)
        last.clear()
        for name, result in results.items():
            rows = {k: (r.published, r.matched, r.wrong, r.missing) for k, r in result.rows.items()}
            last[name] = (rows, result.duplicate_effects, result.duplicate_statuses, result.examples)
        return (seen, lc) if all(r.ok for r in results.values()) else None

    try:
        return await wait_for(settled, 120, "every merchant to reconcile", every=1.0)
    except AssertionError as exc:
        bad = {name: state for name, state in last.items() if state[0] and not _clean(state)}
        raise AssertionError(f"{exc}; (published, matched, wrong, missing) by merchant: {bad}") from None


def _clean(state: tuple[dict[str, tuple[int, int, int, int]], int, int, list[str]]) -> bool:
    rows, duplicate_effects, duplicate_statuses, _ = state
    return all(p == m for p, m, _, _ in rows.values()) and duplicate_effects == duplicate_statuses == 0


@pytest.mark.timeout(420)  # four worker starts on two cores
async def test_a_merchant_added_by_a_rolling_restart_is_served_and_the_others_lose_nothing(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "merchants"
    served = write_merchants_file(folder, (*OLD, NEW), "sandbox.toml")
    merchants = write_merchants_file(folder, OLD)  # what the workers read: the three, until the roll
    old = [(m.name, m.mid) for m in OLD]
    async with LocalStack(tmp_path, group="merchants-roll") as stack:
        await stack.start_full_sandbox(free_port(), 1.0, merchants=served)
        stack.env["FLEXBRIDGE_MERCHANTS_FILE"] = str(merchants)
        workers = await asyncio.gather(stack.start_worker("w1", 90), stack.start_worker("w2", 90))
        before, during = plan(150, seed=21, merchants=old), plan(240, seed=22, merchants=old)
        await _publish(stack.bootstrap, before)

        write_merchants_file(folder, (*OLD, NEW))  # onboarding: the same file, one more entry
        publishing = asyncio.create_task(_publish(stack.bootstrap, during, rate=10))
        first = await restart_cleanly(stack, workers[0], "w1-new")
        second = await restart_cleanly(stack, workers[1], "w2-new")
        await publishing
        assert first.child.proc.poll() is None and second.child.proc.poll() is None

        after = plan(150, seed=23, merchants=[(NEW.name, NEW.mid), *old])
        await _publish(stack.bootstrap, after)
        planned = before + during + after
        seen, lc = await _settle(stack, planned)
    assert not stack.crash_lines()  # every worker stopped, the four restarts' included

    results = reconcile_merchants(planned, seen)  # each one outcome, under its MID, no effect twice
    assert set(results) >= {"acme", "bolt", "cora", "dana"} and all(r.ok for r in results.values())
    assert results["dana"].published >= 30 and results["dana"].accounted == results["dana"].published

    invariants = check(planned, seen, kills=[])
    by_sftp = [p for p in planned if p.merchant in ("acme", "dana")]  # the merchants with MIT by SFTP
    invariants.append(batch_records_once(by_sftp, lc, seen.journal))
    broken = [(i.name, i.detail, i.examples) for i in invariants if not i.held]
    assert not broken

    dana_files = [b for b in lc.batches if b.get("merchant") == "dana" and b.get("kind") == "evaluate"]
    assert dana_files and all(b.get("error") is None and b.get("rejected") == 0 for b in dana_files)
    dana_calls = [c for c in seen.journal if c.get("mid") == NEW.mid and c.get("status") == 200]
    assert {c.get("path") for c in dana_calls} >= {"/v1/transmit", "/v1/evaluate"}
