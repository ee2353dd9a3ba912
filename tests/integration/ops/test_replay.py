"""`flexbridge replay` on the real broker: plan = what executes, filters, rate, resume, loop guard."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from core.settings import KafkaSettings
from streams.kafka.topics import ensure_topics
from streams.local.stack import metric_total
from streams.local.traffic import plan
from tests.conftest import Stack, Worker
from tests.flows import publish, ready, settle
from tests.support import child, flexbridge, produce, read_all, run_flexbridge, wait_for

pytestmark = pytest.mark.integration


async def replay(stack: Stack, *args: str) -> dict[str, Any]:
    code, out, err = await run_flexbridge(stack.env, "replay", "--json", *args)
    assert code == 0, err
    result: dict[str, Any] = orjson.loads(out)
    return result


def replayed(records: list[Any], replay_id: str) -> list[Any]:
    return [r for r in records if dict(r.headers).get("replay-id") == replay_id.encode()]


async def dry_run(stack: Stack, declined: str, n_declined: int) -> dict[str, Any]:
    """The plan, printed for a human and as JSON: every declined event is there, finished; nothing sent."""
    code, out, _ = await run_flexbridge(stack.env, "replay", "--topic", declined, "--last", "1h")
    assert code == 0 and "dry run" in out and "--execute" in out
    dry = await replay(stack, "--topic", declined, "--last", "1h", "--replay-id", "r-dry")
    assert dry["totals"] == {"records": n_declined, "toSend": n_declined, "finished": n_declined,
                             "refused": 0, "masked": 0, "omitted": 0, "superseded": 0, "noTarget": 0,
                             "deadLettered": 0, "noOutcome": 0}  # fmt: skip
    assert not replayed(await read_all(stack.bootstrap, declined), "r-dry")  # a dry run sends nothing
    return dry


async def assert_execute_sends_the_plan(stack: Stack, declined: str, dry: dict[str, Any]) -> None:
    done = await replay(stack, "--topic", declined, "--last", "1h", "--replay-id", "r-1", "--execute")
    sent = replayed(await read_all(stack.bootstrap, declined), "r-1")
    assert done["sent"] == len(sent) == dry["totals"]["toSend"]
    origins = {dict(r.headers)["replay-of"].decode() for r in sent}
    assert len(origins) == len(sent) and all(o.startswith(f"{declined}/") for o in origins)
    assert {dict(r.headers)["replay-count"] for r in sent} == {b"1"}


async def wait_until_skipped(worker: Worker, count: int) -> None:
    async def skipped() -> float | None:
        total = await metric_total(worker.url, "flexbridge_events_out_total", outcome="skipped")
        return total if total >= count else None

    await wait_for(skipped, 30, "the replayed finished events to be skipped")


async def assert_a_forced_replay_makes_no_second_effect(stack: Stack, key: str, calls: int) -> None:
    declined = stack.topics["declined"]
    await replay(stack, "--topic", declined, "--last", "1h", "--key", key, "--force", "--execute")

    async def forced() -> list[dict[str, Any]] | None:
        again = stack.sandbox.journal("/v1/evaluate")
        return again if len(again) > calls else None

    journal = await wait_for(forced, 30, "the forced replay to call Flex")
    mine = [c for c in journal if c["body"]["orderId"] == key]
    # the window now also holds r-1's copy: original + 2 forced calls, all under one idempotency key,
    # so Flex answered the forced ones from its record and made no second effect
    assert len(mine) == 3 and len({c["idempotencyKey"] for c in mine}) == 1
    assert all(c["replayed"] for c in mine[1:])


async def test_dry_run_counts_equal_what_execute_sends_and_finished_events_make_no_call(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    planned = [p for p in plan(40, seed=21) if p.kind in {"approval", "cit-approved", "cit-declined"}][:12]
    await publish(stack, planned)
    assert (await settle(stack, planned)).ok
    declined = stack.topics["declined"]
    calls = len(stack.sandbox.journal("/v1/evaluate"))
    n_declined = sum(p.topic == "declined" for p in planned)

    dry = await dry_run(stack, declined, n_declined)
    await assert_execute_sends_the_plan(stack, declined, dry)
    await wait_until_skipped(worker, n_declined)
    assert len(stack.sandbox.journal("/v1/evaluate")) == calls  # not one more Flex call

    key = next(p.key for p in planned if p.topic == "declined")
    await assert_a_forced_replay_makes_no_second_effect(stack, key, calls)
    audit = [orjson.loads(r.value) for r in await read_all(stack.bootstrap, stack.topics["audit"])]
    finished = [a for a in audit if a["replayId"] == "r-1" and a["phase"] == "finished"]
    assert finished and finished[0]["counts"]["sent"] == n_declined and finished[0]["who"]


async def _produce_at(stack: Stack, topic: str, items: list[tuple[str, dict[str, Any], int]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for key, value, ts in items:
            await producer.send_and_wait(topic, orjson.dumps(value), key.encode(), timestamp_ms=ts)
    finally:
        await producer.stop()


async def test_filters_windows_and_the_loop_guard(stack: Stack) -> None:
    src, out = stack.topics["commands"], stack.topics["webhooks"]  # any two topics of this test
    base = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    items = [(f"K{i % 3}", {"n": i, "status": "DECLINED" if i % 2 else "APPROVED"}, base + i * 60_000)
             for i in range(12)]  # fmt: skip
    await _produce_at(stack, src, items)
    await ensure_topics(KafkaSettings(bootstrap_servers=stack.bootstrap), [out])
    window = ["--topic", src, "--from", "2026-01-01T00:02:00Z", "--to", "2026-01-01T00:08:00Z"]
    assert (await replay(stack, *window))["totals"]["records"] == 6  # minutes 2..7
    both = await replay(stack, *window, "--key", "K1", "--where", "status=DECLINED")
    assert both["totals"]["records"] == sum(1 for i in range(2, 8) if i % 3 == 1 and i % 2)
    by_offset = await replay(stack, "--topic", src, "--from-offset", "0", "--to-offset", "2")
    assert by_offset["totals"]["records"] == 3 * len([p for p in by_offset["partitions"] if p["records"]])
    assert sum(p["records"] for p in by_offset["partitions"]) == by_offset["totals"]["records"]

    first = await replay(stack, "--topic", src, "--from-offset", "0", "--to-topic", out, "--execute")
    assert first["sent"] == 12
    again = ["--topic", src, "--from-offset", "0", "--to-topic", out, "--replay-id", first["replayId"]]
    code, _, err = await run_flexbridge(stack.env, "replay", *again, "--execute")
    assert code == 2 and f"--resume {first['replayId']}" in err, err  # one id, one run
    back = ["--topic", out, "--from-offset", "0", "--to-topic", src]
    second = await replay(stack, *back, "--max-replays", "1")
    assert second["totals"] == {
        "records": 12,
        "toSend": 0,
        "finished": 0,
        "refused": 12,
        "masked": 0,
        "omitted": 0,
        "superseded": 0,
        "noTarget": 0,
        "deadLettered": None,  # not an input topic: its records' outcomes are not looked for
        "noOutcome": None,
    }
    code, _, err = await run_flexbridge(stack.env, "replay", "--topic", src, "--last", "2 hours")
    assert code == 2 and "e.g. 2h" in err
    code, _, err = await run_flexbridge(stack.env, "replay", "--topic", "no.such.topic", "--last", "2h")
    assert code == 2 and "does not exist" in err
    for own, says in (
        (stack.topics["dlq"], "use flexbridge dlq redrive"),
        (stack.topics["status"], "--to-topic"),
    ):
        code, _, err = await run_flexbridge(stack.env, "replay", "--topic", own, "--last", "2h")
        assert code == 2 and says in err, err
    late = ["--from", "2026-12-05T02:00:00Z", "--to", "2026-12-05T01:00:00Z"]
    code, _, err = await run_flexbridge(stack.env, "replay", "--topic", src, *late)
    assert code == 2 and "the window is empty" in err, err


async def test_rate_is_respected_and_a_killed_replay_resumes_without_sending_twice(stack: Stack) -> None:
    src, out = stack.topics["commands"], stack.topics["webhooks"]
    await produce(stack.bootstrap, src, [(f"K{i}", {"n": i}) for i in range(60)])
    await ensure_topics(KafkaSettings(bootstrap_servers=stack.bootstrap), [out])
    args = ["replay", "--topic", src, "--last", "1h", "--to-topic", out, "--rate", "20"]
    args += ["--replay-id", "r-kill"]
    proc = child("replay", flexbridge(*args, "--execute"), stack.env, stack.log_dir)

    async def some_sent() -> int | None:
        n = len(replayed(await read_all(stack.bootstrap, out), "r-kill"))
        return n if n >= 15 else None

    await wait_for(some_sent, 30, "the first replayed records")
    proc.kill()  # SIGKILL: no checkpoint, no goodbye
    before = len(replayed(await read_all(stack.bootstrap, out), "r-kill"))
    assert 15 <= before < 60
    code, text, err = await run_flexbridge(stack.env, "replay", "--resume", "r-kill")  # a dry run
    assert code == 0, err
    assert f"dry run: {60 - before} of 60 records left to send ({before} already sent under r-kill)" in text
    assert len(replayed(await read_all(stack.bootstrap, out), "r-kill")) == before  # it sent nothing
    code, text, err = await run_flexbridge(stack.env, "replay", "--resume", "r-kill", "--execute", "--json")
    assert code == 0, err
    resumed = orjson.loads(text)
    assert resumed["alreadySent"] == before and resumed["sent"] == 60 - before
    records = replayed(await read_all(stack.bootstrap, out), "r-kill")
    origins = Counter(dict(r.headers)["replay-of"] for r in records)
    assert len(origins) == 60 and max(origins.values()) == 1  # every record once, none twice
    # the rate, measured from the run itself: the broker timestamps of what the resumed run sent
    tail = sorted(r.timestamp for r in records)[before:]
    measured = (len(tail) - 1) / ((tail[-1] - tail[0]) / 1000)
    assert measured <= 20 * 1.15, measured
