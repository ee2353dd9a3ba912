"""The two real-time flows end to end: real broker over TCP, real worker process, sandbox over HTTP."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx
import pytest

from streams.local.procs import free_port
from streams.local.stack import metric_total
from streams.local.traffic import make_event, plan
from tests.conftest import Stack
from tests.flows import publish, ready, settle
from tests.support import Sandbox, produce, read_all, wait_for

pytestmark = pytest.mark.integration


async def test_every_kind_of_event_reaches_its_outcome(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    planned = plan(120, seed=1)
    await publish(stack, planned)
    result = await settle(stack, planned)
    assert result.ok, (result.rows, result.examples)
    assert {row.kind for row in result.rows.values()} >= {
        "approval",
        "cit-challenge",
        "mit-rebill",
        "raw-pan",
    }
    calls = stack.sandbox.journal("/v1/evaluate")
    assert all(c["body"]["isDeclined"] is True and c["idempotencyKey"] for c in calls)
    assert all(c["body"]["mid"] == stack.env["FLEXBRIDGE_FLEX__MID"] for c in calls)
    assert "eventId" not in calls[0]["body"]


async def test_malformed_input_is_dead_lettered_with_reason_and_the_worker_keeps_going(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    planned = [p for p in plan(60, seed=2) if p.kind in {"bad-json", "bad-schema", "raw-pan", "cit-approved"}]
    await publish(stack, planned)
    result = await settle(stack, planned)
    assert result.ok, (result.rows, result.examples)
    dlq = await read_all(stack.bootstrap, stack.topics["dlq"])
    by_reason = Counter(dict(r.headers)["dlq-reason"].decode() for r in dlq)
    assert by_reason["schema"] == sum(p.kind in {"bad-json", "bad-schema"} for p in planned)
    for record in dlq:
        headers = dict(record.headers)
        assert headers["dlq-source-topic"].decode() in (stack.topics["approved"], stack.topics["declined"])
        assert int(headers["dlq-source-offset"]) >= 0 and headers["dlq-error"] and headers["dlq-failed-at"]
        assert b"4111111111111111" not in (record.value or b"")  # the PAN never lands anywhere
    assert "4111111111111111" not in worker.process.output()
    assert worker.process.proc.poll() is None


async def test_flex_faults_at_30_percent_lose_nothing_and_duplicate_nothing(stack: Stack) -> None:
    faults = {
        "rate": 0.3,
        "statuses": [500, 502, 503, 429],
        "retryAfterSeconds": 1,
        "timeoutRate": 0.05,
        "timeoutSeconds": 3,
        "afterEffectRate": 0.1,
        "paths": ["/v1/evaluate", "/v1/transmit"],
        "seed": 3,
    }
    stack.sandbox.call("POST", "/_sandbox/faults", faults)
    worker = stack.worker(FLEXBRIDGE_FLEX__TIMEOUT_SECONDS=1, FLEXBRIDGE_FLEX__DEADLINE_SECONDS=120)
    await ready(worker)
    planned = [p for p in plan(150, seed=3) if p.kind != "approval"]  # evaluate carries the idempotency key
    await publish(stack, planned)
    result = await settle(stack, planned, timeout=120)
    assert result.ok, (result.rows, result.examples)
    journal = stack.sandbox.journal("/v1/evaluate")
    assert sum(1 for c in journal if c["fault"]) > 10  # the faults really happened
    assert sum(1 for c in journal if c["replayed"]) >= 1  # an answer was lost after the effect, then replayed
    orders = Counter(o["orderId"] for o in stack.sandbox.orders())
    assert orders and max(orders.values()) == 1  # one Flex order per merchant order, whatever the retries


async def test_token_expiry_mid_run_fails_no_call(stack: Stack) -> None:
    short = Sandbox(stack.log_dir, "--token-ttl", "2")
    try:
        stack.env["FLEXBRIDGE_FLEX__BASE_URL"] = short.url
        stack.sandbox = short
        worker = stack.worker(FLEXBRIDGE_FLEX__TOKEN_REFRESH_MARGIN_SECONDS=0)
        await ready(worker)
        first = [p for p in plan(40, seed=4) if p.kind in {"cit-approved", "approval"}]
        await publish(stack, first[:20])
        await settle(stack, first[:20])
        await asyncio.sleep(2.5)  # let the 2 s token expire: the point of this test, not a synchronisation
        await publish(stack, first[20:])
        result = await settle(stack, first)
        assert result.ok, (result.rows, result.examples)
        tokens = short.journal("/v1/oauth2/token")
        assert len(tokens) >= 2
    finally:
        short.process.stop()


async def test_worker_killed_mid_stream_loses_nothing(stack: Stack) -> None:
    stack.sandbox.call(
        "POST", "/_sandbox/faults", {"latencyMs": 30, "paths": ["/v1/evaluate", "/v1/transmit"]}
    )
    first = stack.worker()
    await ready(first)
    planned = plan(400, seed=5)
    await publish(stack, planned)

    async def some_done() -> int | None:
        done = len(await read_all(stack.bootstrap, stack.topics["status"]))
        return done if done >= 20 else None

    await wait_for(some_done, 60, "the first statuses")
    first.process.kill()
    second = stack.worker()
    await ready(second)
    result = await settle(stack, planned, timeout=120)
    # Redelivery after a SIGKILL may repeat a status, never an effect under a new key.
    assert all(r.matched == r.published for r in result.rows.values()), (result.rows, result.examples)
    evaluate_effects = Counter(
        c["idempotencyKey"]
        for c in stack.sandbox.journal("/v1/evaluate")
        if c["status"] == 200 and not c["replayed"]
    )
    assert max(evaluate_effects.values()) == 1


async def test_unreachable_kafka_stops_the_worker_naming_the_setting(stack: Stack) -> None:
    stack.env["FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"
    worker = stack.worker(FLEXBRIDGE_KAFKA__STARTUP_TIMEOUT_SECONDS=2)
    code = await asyncio.to_thread(worker.process.proc.wait, 30)
    assert code == 2
    assert "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS" in worker.process.output()


async def test_alive_but_not_ready_until_flex_answers(stack: Stack) -> None:
    stack.env["FLEXBRIDGE_FLEX__BASE_URL"] = f"http://127.0.0.1:{free_port()}/v1/"
    worker = stack.worker()

    async def answers() -> tuple[int, int, dict[str, object]] | None:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                health = await http.get(worker.url + "/health")
                ready = await http.get(worker.url + "/ready")
        except httpx.TransportError:
            return None
        body = ready.json()
        return (health.status_code, ready.status_code, body) if body.get("joined") else None

    health, ready_code, body = await wait_for(answers, 60, "the worker to join its group")
    assert health == 200
    assert ready_code == 503 and body["flex_token"] is False and body["ready"] is False


async def test_bad_configuration_stops_the_worker_naming_the_setting(stack: Stack) -> None:
    worker = stack.worker(FLEXBRIDGE_FLEX__BASE_URL="ftp://nowhere", FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS=0)
    code = await asyncio.to_thread(worker.process.proc.wait, 30)
    assert code == 2
    out = worker.process.output()
    assert "FLEXBRIDGE_FLEX__BASE_URL" in out and "FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS" in out


async def test_one_order_in_order_many_orders_at_once(stack: Stack) -> None:
    stack.sandbox.call("POST", "/_sandbox/faults", {"latencyMs": 150, "paths": ["/v1/transmit"]})
    worker = stack.worker(FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS=1)  # one partition: ordering is all on us
    await ready(worker)
    rng = random.Random(8)
    sequence: dict[str, list[str]] = {f"ORD-SEQ-{i}": [] for i in range(40)}
    items: list[tuple[str | None, object]] = []
    for _ in range(200):
        order = rng.choice(list(sequence))
        body = make_event("approval", order, rng)
        assert isinstance(body, dict)
        sequence[order].append(body["transaction"]["id"])
        items.append((order, body))
    await produce(stack.bootstrap, stack.topics["approved"], items)

    async def in_flight() -> float | None:
        value = await metric_total(worker.url, "flexbridge_in_flight")
        return value if value >= 10 else None

    assert await wait_for(in_flight, 30, "many orders in flight at once") >= 10

    async def all_sent() -> list[dict[str, object]] | None:
        calls = [c for c in stack.sandbox.journal("/v1/transmit") if c["status"] == 200]
        return calls if len(calls) >= len(items) else None

    calls = await wait_for(all_sent, 60, "every transmit")
    seen: dict[str, list[str]] = {order: [] for order in sequence}
    for call in calls:  # the journal lists calls in the order they were answered
        body = call["body"]
        assert isinstance(body, dict)
        seen[body["orderId"]].append(body["transaction"]["id"])
    assert seen == sequence


async def _skipped(worker_url: str, at_least: int) -> float | None:
    """The worker's count of skipped events once it reaches ``at_least``, else None (keep waiting)."""
    total = await metric_total(worker_url, "flexbridge_events_out_total", outcome="skipped")
    return total if total >= at_least else None


async def test_a_redelivered_event_makes_no_second_call_even_after_a_restart(stack: Stack) -> None:
    first = stack.worker()
    await ready(first)
    planned = [p for p in plan(30, seed=9) if p.kind in {"approval", "cit-approved"}][:6]
    await publish(stack, planned)
    assert (await settle(stack, planned)).ok

    def payment_calls() -> int:
        return sum(1 for c in stack.sandbox.journal() if c["path"] in ("/v1/transmit", "/v1/evaluate"))

    calls_before = payment_calls()

    await publish(stack, planned)  # the same events again: a producer retry, a replay
    assert await wait_for(
        lambda: _skipped(first.url, len(planned)), 30, "the duplicates to be skipped"
    ) == len(planned)
    first.process.stop()

    second = stack.worker()  # a new process knows only what the ledger topic tells it
    await ready(second)
    await publish(stack, planned)
    assert await wait_for(
        lambda: _skipped(second.url, len(planned)), 30, "the duplicates to be skipped"
    ) == len(planned)
    assert payment_calls() == calls_before  # not one more Flex call
    statuses = await read_all(stack.bootstrap, stack.topics["status"])
    assert len(statuses) == sum(p.topic == "declined" for p in planned)  # no second status either
