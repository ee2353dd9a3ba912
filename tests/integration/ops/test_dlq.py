"""`flexbridge dlq list|show|redrive` on the real broker, with a worker and the sandbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from core.settings import KafkaSettings
from schemas.dlq import dlq_headers
from streams.kafka.clients import started
from streams.kafka.topics import ensure_topics
from streams.local.traffic import Planned, plan
from tests.conftest import Stack
from tests.flows import publish, ready
from tests.support import read_all, run_flexbridge, values, wait_for

pytestmark = pytest.mark.integration


async def cli_json(stack: Stack, *args: str) -> Any:
    code, out, err = await run_flexbridge(stack.env, *args)
    assert code == 0, err
    return orjson.loads(out)


def four_rescues_a_card_number_and_bad_json() -> list[Planned]:
    chosen = [p for p in plan(200, seed=31) if p.kind in {"cit-approved", "raw-pan", "bad-json"}]
    cit = [p for p in chosen if p.kind == "cit-approved"][:4]
    assert len(cit) == 4
    return [
        *cit,
        next(p for p in chosen if p.kind == "raw-pan"),
        next(p for p in chosen if p.kind == "bad-json"),
    ]


async def all_dead_lettered(stack: Stack, expected: dict[str, int]) -> dict[str, Any]:
    """``dlq list --json`` once it counts ``expected`` per reason."""

    async def all_dead() -> dict[str, Any] | None:
        listed: dict[str, Any] = await cli_json(stack, "dlq", "list", "--json")
        counts = {g["reason"]: g["count"] for g in listed["reasons"]}
        return listed if counts == expected else None

    return await wait_for(all_dead, 60, "every event to be dead-lettered", every=0.5)


async def assert_shown_masked(stack: Stack, listed: dict[str, Any], key: str) -> None:
    pan = next(g for g in listed["reasons"] if g["reason"] == "pan-detected")
    code, shown, _ = await run_flexbridge(stack.env, "dlq", "show", pan["latest"])
    assert code == 0 and "4111111111111111" not in shown and "************1111" in shown
    record = orjson.loads(shown)
    assert record["headers"]["dlq-reason"] == "pan-detected" and record["key"] == key
    assert record["value"]["paymentMethod"]["verificationValue"] == "***"


async def wait_until_approved(stack: Stack, cit: list[Planned]) -> None:
    async def approved() -> set[str] | None:
        statuses = values(await read_all(stack.bootstrap, stack.topics["status"]))
        keys = {s["orderId"] for s in statuses if s["status"] == "APPROVED"}
        return keys if keys >= {p.key for p in cit} else None

    assert await wait_for(approved, 60, "the redriven events to be approved")


async def assert_redriven_once_and_audited(stack: Stack) -> None:
    redriven = [r for r in await read_all(stack.bootstrap, stack.topics["declined"]) if r.headers]
    assert len(redriven) == 4
    for r in redriven:
        headers = dict(r.headers)
        assert (
            headers["replay-of"].startswith(stack.topics["dlq"].encode()) and headers["replay-count"] == b"1"
        )
        assert not any(k.startswith("dlq-") for k in headers)  # the dead-letter headers are gone
    audit = [orjson.loads(r.value) for r in await read_all(stack.bootstrap, stack.topics["audit"])]
    assert [a["phase"] for a in audit if a["action"] == "redrive"] == ["started", "finished"]


async def test_dead_letters_are_listed_shown_masked_and_redriven_after_the_cause_is_fixed(
    stack: Stack,
) -> None:
    stack.sandbox.call(
        "POST", "/_sandbox/faults", {"rate": 1.0, "statuses": [503], "paths": ["/v1/evaluate"]}
    )
    worker = stack.worker(FLEXBRIDGE_FLEX__DEADLINE_SECONDS=1, FLEXBRIDGE_FLEX__BACKOFF_MAX_SECONDS=0.2)
    await ready(worker)
    planned = four_rescues_a_card_number_and_bad_json()
    await publish(stack, planned)

    listed = await all_dead_lettered(stack, {"retries-exhausted": 4, "pan-detected": 1, "schema": 1})
    await assert_shown_masked(stack, listed, planned[4].key)

    stack.sandbox.call("DELETE", "/_sandbox/faults")  # the cause is fixed
    every = await cli_json(stack, "dlq", "redrive", "--force", "--json")  # no reason chosen, forced
    # the masked card would pass for a token: that dead letter is never sent again; nor is the bad
    # JSON, whose verificationValue was masked (dlq-masked): it is no longer the record it was
    assert (every["totals"]["toSend"], every["totals"]["masked"]) == (4, 2)
    code, _, err = await run_flexbridge(stack.env, "dlq", "redrive", "--merchant", "acme")
    assert code == 2 and "--merchant needs the merchants file: FLEXBRIDGE_MERCHANTS_FILE is not set" in err
    dry = await cli_json(stack, "dlq", "redrive", "--reason", "retries-exhausted", "--json")
    assert dry["totals"]["toSend"] == 4 and dry["targets"] == [stack.topics["declined"]]
    done = await cli_json(stack, "dlq", "redrive", "--reason", "retries-exhausted", "--execute", "--json")
    assert done["sent"] == 4
    await wait_until_approved(stack, planned[:4])
    await assert_redriven_once_and_audited(stack)


async def test_a_redrive_and_the_list_take_a_window_of_when_dead_letters_failed(stack: Stack) -> None:
    """``--last`` / ``--from`` / ``--to`` select dead letters by when they were dead-lettered (their
    record time): those of an outage, not those of the hours before."""
    now = int(time.time() * 1000)
    old, new = now - 3 * HOUR_MS, now
    await ensure_topics(KafkaSettings(bootstrap_servers=stack.bootstrap), [stack.topics["dlq"]])
    producer = await started(AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=False))
    try:
        for offset, at in enumerate((old, new)):
            source = {"topic": stack.topics["declined"], "partition": 0, "offset": offset}
            headers = dlq_headers(reason="retries-exhausted", error="503", **source)
            value = orjson.dumps({"eventId": f"evt-{offset}", "orderId": f"ORD-{offset}"})
            await producer.send_and_wait(stack.topics["dlq"], value, b"k", headers=headers, timestamp_ms=at)
    finally:
        await producer.stop()

    assert _failed_at(await cli_json(stack, "dlq", "redrive", "--json")) == [_iso(old), _iso(new)]
    assert _failed_at(await cli_json(stack, "dlq", "redrive", "--last", "1h", "--json")) == [_iso(new)]
    start, end = _iso(now - 4 * HOUR_MS), _iso(now - HOUR_MS)
    window = await cli_json(stack, "dlq", "redrive", "--from", start, "--to", end, "--json")
    assert _failed_at(window) == [_iso(old)]
    code, _, err = await run_flexbridge(stack.env, "dlq", "redrive", "--last", "1h", "--from", start)
    assert code == 2 and "--last cannot be combined with --from/--to" in err
    for window, count in ((), 2), (("--last", "1h"), 1), (("--from", start, "--to", end), 1):
        listed = await cli_json(stack, "dlq", "list", *window, "--json")  # dlq list takes the same
        assert [(g["reason"], g["count"]) for g in listed["reasons"]] == [("retries-exhausted", count)]


HOUR_MS = 3_600_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _failed_at(plan: dict[str, Any]) -> list[str]:
    """The times of the dead letters a redrive plan selected (one key: one partition holds them all)."""
    [part] = [p for p in plan["partitions"] if p["records"]]
    assert plan["totals"]["records"] == plan["totals"]["toSend"] == part["records"]
    return sorted({part["firstTime"], part["lastTime"]})
