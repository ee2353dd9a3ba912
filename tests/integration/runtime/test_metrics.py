"""What operators read: /ready before and after joining, /metrics after a known workload."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from streams.local.stack import metric_total
from streams.local.traffic import Planned, plan
from tests.conftest import Stack, Worker
from tests.flows import publish, ready, settle
from tests.support import read_all, wait_for

pytestmark = pytest.mark.integration


async def lags(worker: Worker) -> list[float]:
    """``flexbridge_consumer_lag`` of every partition, as the worker's /metrics shows it."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(worker.url + "/metrics")).text
    return [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("flexbridge_consumer_lag{")
    ]


async def test_ready_only_once_joined_and_flex_answers(stack: Stack) -> None:
    # The default fetch wait (the tests' workers use 10 ms) and a 16 s session: the embedded broker
    # then answers the join seconds after the web server is up, so the probe sees the worker before
    # it has joined (with 10 ms the join can finish before the web server starts, leaving nothing
    # to check).
    worker = stack.worker(FLEXBRIDGE_KAFKA__SESSION_TIMEOUT_MS=16000, FLEXBRIDGE_KAFKA__FETCH_MAX_WAIT_MS=500)
    seen: list[tuple[int, bool]] = []

    async def joined() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                answer = await http.get(worker.url + "/ready")
        except httpx.TransportError:
            return False
        body = answer.json()
        seen.append((answer.status_code, body["joined"]))
        return answer.status_code == 200

    await wait_for(joined, 60, "the worker to be ready", every=0.05)
    assert seen[-1] == (200, True)
    assert all(code == 503 for code, was_joined in seen if not was_joined)  # never ready before joining
    assert (503, False) in seen, seen  # the group join takes seconds: the probe saw the worker before it


async def lag_rises_then_falls_to_zero(stack: Stack, worker: Worker, planned: list[Planned]) -> None:
    """The lag gauge shows the backlog, then every partition's lag reaches 0 once all is settled."""

    async def lagging() -> float | None:
        total = sum(await lags(worker))
        return total if total > 0 else None

    await wait_for(lagging, 30, "the lag gauge to show the backlog")
    await settle(stack, planned)

    async def caught_up() -> list[float] | None:
        found = await lags(worker)
        return found if found and not any(found) else None

    assert len(await wait_for(caught_up, 30, "every partition's lag to reach 0")) == 8  # 2 topics × 4


async def assert_event_counts(stack: Stack, worker: Worker, planned: list[Planned]) -> None:
    kinds = Counter(p.kind for p in planned)
    by_topic = Counter(p.topic for p in planned)
    for topic in ("approved", "declined"):
        name = stack.topics[topic]
        assert await metric_total(worker.url, "flexbridge_events_in_total", topic=name) == by_topic[topic]
        assert await metric_total(worker.url, "flexbridge_events_out_total", topic=name) == by_topic[topic]
    transmitted = await metric_total(worker.url, "flexbridge_events_out_total", outcome="transmitted")
    assert transmitted == kinds["approval"]
    dlq = Counter(
        dict(r.headers)["dlq-reason"].decode() for r in await read_all(stack.bootstrap, stack.topics["dlq"])
    )
    assert (
        dlq["pan-detected"] == kinds["raw-pan"] and dlq["schema"] == kinds["bad-json"] + kinds["bad-schema"]
    )
    for reason, count in dlq.items():
        assert await metric_total(worker.url, "flexbridge_dlq_total", reason=reason) == count


async def assert_flex_call_counts(stack: Stack, worker: Worker) -> None:
    async def total(name: str, **labels: str) -> float:
        return await metric_total(worker.url, name, **labels)

    journal = stack.sandbox.journal()
    for path in ("/v1/evaluate", "/v1/transmit"):
        endpoint = f"POST {path}"
        statuses = Counter(str(c["status"]) for c in journal if c["path"] == path)
        for status, count in statuses.items():
            assert await total("flexbridge_flex_calls_total", endpoint=endpoint, status=status) == count
        calls = await total("flexbridge_flex_calls_total", endpoint=endpoint)
        assert await total("flexbridge_flex_call_seconds_count", endpoint=endpoint) == calls
        # every call waited for the sandbox's 100 ms: none in the buckets below it
        assert await total("flexbridge_flex_call_seconds_bucket", endpoint=endpoint, le="0.05") == 0


async def assert_latency_histograms(stack: Stack, worker: Worker, planned: list[Planned]) -> None:
    """Every record the bridge ran has its end to end, by flow; those that waited for the sandbox's
    100 ms are above 0.05 s. The event loop's lag probe has run."""

    async def total(name: str, **labels: str) -> float:
        return await metric_total(worker.url, name, **labels)

    for flow, topic in (("transmit", "approved"), ("evaluate", "declined")):
        name = stack.topics[topic]
        ran = await total("flexbridge_events_out_total", topic=name)
        for not_run in ("skipped", "routed-sftp"):
            ran -= await total("flexbridge_events_out_total", topic=name, outcome=not_run)
        assert ran > 0
        assert await total("flexbridge_end_to_end_seconds_count", flow=flow) == ran
    no_call = sum(p.kind in ("bad-json", "bad-schema", "raw-pan") for p in planned)
    assert await total("flexbridge_end_to_end_seconds_bucket", le="0.05") <= no_call
    assert await total("flexbridge_event_loop_lag_seconds_count") > 0


async def assert_order_table_size(stack: Stack, worker: Worker) -> None:
    """One worker holds every partition: its order table has one entry per orderId with a status."""
    orders = {r.key for r in await read_all(stack.bootstrap, stack.topics["status"])}

    async def folded() -> float | None:
        size = await metric_total(worker.url, "flexbridge_order_table_entries")
        return size if size == len(orders) else None

    assert orders and await wait_for(folded, 30, "every order folded into the table") == len(orders)
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(worker.url + "/ready")).json()["order_table_entries"] == len(orders)


async def assert_ledger_size(stack: Stack, worker: Worker) -> None:
    """One worker holds every partition: its ledger holds the key of every finished event."""
    keys = {r.key for r in await read_all(stack.bootstrap, stack.topics["ledger"])}
    assert keys and await metric_total(worker.url, "flexbridge_ledger_entries") == len(keys)


async def test_metrics_after_a_known_workload(stack: Stack) -> None:
    stack.sandbox.call(
        "POST", "/_sandbox/faults", {"latencyMs": 100, "paths": ["/v1/evaluate", "/v1/transmit"]}
    )
    worker = stack.worker(FLEXBRIDGE_PIPELINE__MAX_IN_FLIGHT=4)
    await ready(worker)
    planned = plan(120, seed=5)
    await publish(stack, planned)
    await lag_rises_then_falls_to_zero(stack, worker, planned)

    await assert_event_counts(stack, worker, planned)
    await assert_flex_call_counts(stack, worker)
    await assert_latency_histograms(stack, worker, planned)
    await assert_order_table_size(stack, worker)
    await assert_ledger_size(stack, worker)
    assert await metric_total(worker.url, "flexbridge_in_flight") == 0
    assert await metric_total(worker.url, "flexbridge_ready") == 1
