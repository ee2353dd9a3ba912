"""`flexbridge replay`'s plan of an input topic finds the records that have no outcome, and
`--without-outcome` replays just those: on the real broker, against a real worker's ledger
entries, command answers and dead letters."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from core.settings import KafkaSettings, Settings, TopicSettings
from streams.kafka.clients import make_producer, started
from streams.kafka.topics import ensure_topics
from streams.local.traffic import plan
from streams.ops.outcomes import Outcomes
from streams.ops.scan import open_reader, resolve_ranges
from streams.ops.selection import Selection
from streams.runtime.ledger import Ledger
from tests.conftest import Stack
from tests.flows import publish, ready, settle
from tests.integration.ops.test_partitions import keys_the_partitioners_disagree_on, librdkafka_produce
from tests.integration.ops.test_replay import replay, replayed
from tests.integration.runtime.test_commands import answers, capture_required_orders, command
from tests.support import produce, read_all, run_flexbridge, values, wait_for

pytestmark = pytest.mark.integration

FINISHED = {"cit-declined", "cit-approved"}  # answered by Flex: a ledger entry each
DEAD = {"flex-rejects", "bad-json", "raw-pan"}  # a dead letter each (raw-pan's with its card data masked)


async def test_the_plan_finds_the_records_no_worker_finished_or_dead_lettered(stack: Stack) -> None:
    declined = stack.topics["declined"]
    worker = stack.worker()
    await ready(worker)
    planned = [p for p in plan(60, seed=23) if p.kind in FINISHED | DEAD]
    # one event's id spelled as PaymentEvent also reads it
    first = next(i for i, p in enumerate(planned) if p.kind in FINISHED)
    planned[first] = replace(planned[first], value=planned[first].value.replace(b'"eventId"', b'"event_id"'))
    await publish(stack, planned)
    assert (await settle(stack, planned)).ok
    worker.process.stop()
    later = [p for p in plan(30, seed=24) if p.kind in FINISHED][:5]  # no worker reads these yet
    await publish(stack, later)

    dry = await replay(stack, "--topic", declined, "--last", "1h")
    n_finished = sum(p.kind in FINISHED for p in planned)
    n_dead = len(planned) - n_finished
    totals = dry["totals"]
    assert (totals["finished"], totals["deadLettered"], totals["noOutcome"]) == (
        n_finished,
        n_dead,
        len(later),
    )
    keys = {p.key for p in later}
    expected = {
        (r.partition, r.offset) for r in await read_all(stack.bootstrap, declined) if r.key.decode() in keys
    }
    assert {(p["partition"], o) for p in dry["partitions"] for o in p["noOutcomeOffsets"]} == expected
    code, out, err = await run_flexbridge(stack.env, "replay", "--topic", declined, "--last", "1h")
    assert code == 0 and f"{len(later)} have no outcome" in out, err
    await _replay_those_without_outcome(stack, expected)

    await ready(stack.worker())  # a worker again: it reads on from where the first one stopped
    assert (await settle(stack, planned + later)).ok
    dry = await replay(stack, "--topic", declined, "--last", "1h")
    totals = dry["totals"]
    # the replayed copies are finished too, by their events' ids
    assert (totals["finished"], totals["deadLettered"], totals["noOutcome"]) == (
        n_finished + 2 * len(later),
        n_dead,
        0,
    )
    code, out, err = await run_flexbridge(stack.env, "replay", "--topic", declined, "--last", "1h")
    assert code == 0 and f"Every record has an outcome ({n_dead} dead-lettered)" in out, err


async def test_the_plan_keeps_the_ledger_entries_of_its_window_alone(stack: Stack) -> None:
    """The ledger is read whole (an event of the window may have finished before it), but a plan
    keeps only the entries its window's events may have: its memory follows the window."""
    kafka = KafkaSettings(bootstrap_servers=stack.bootstrap, topic_partitions=4, enable_idempotence=False)
    settings = Settings(kafka=kafka, topics=TopicSettings(**stack.topics))
    topics = stack.topics
    await ensure_topics(kafka, [topics["declined"], topics["ledger"]])
    producer = await started(make_producer(kafka))
    reader = await open_reader(settings)
    try:
        finished = [f"E{i}" for i in range(500)]
        await Ledger(kafka, topics["ledger"], producer).record_all(
            "evaluate", finished, 0, {"flow": "evaluate"}
        )
        window = [("E7", b'{"eventId": "E7"}'), ("E-new", b'{"event_id": "E-new"}'), ("x", b"not json")]
        await produce(stack.bootstrap, topics["declined"], [(k, v) for k, v in window])
        selection = Selection(topic=topics["declined"])
        outcomes = Outcomes(settings, producer)
        await outcomes.load(reader, selection, await resolve_ranges(reader, selection))
        records = {r.value: r for r in await read_all(stack.bootstrap, topics["declined"])}
        assert [outcomes.finished(topics["declined"], records[v]) for _, v in window] == [True, False, False]
        assert len(outcomes._ledger) == 1  # E7's entry, of 500
    finally:
        await reader.stop()
        await producer.stop()


async def _replay_those_without_outcome(stack: Stack, positions: set[tuple[int, int]]) -> None:
    """``--without-outcome`` selects exactly the records without one, and sends exactly those."""
    declined = stack.topics["declined"]
    args = ("--topic", declined, "--last", "1h", "--without-outcome")
    dry = await replay(stack, *args)
    assert (dry["totals"]["records"], dry["totals"]["noOutcome"], dry["totals"]["finished"]) == (
        len(positions),
        len(positions),
        0,
    )
    done = await replay(stack, *args, "--replay-id", "lost", "--execute")
    sent = replayed(await read_all(stack.bootstrap, declined), "lost")
    assert done["sent"] == len(sent) == len(positions)
    origins = {dict(r.headers)["replay-of"].decode() for r in sent}
    assert origins == {f"{declined}/{p}/{o}" for p, o in positions}
    code, _, err = await run_flexbridge(
        stack.env, "replay", "--topic", "not.an.input", "--last", "1h", "--without-outcome"
    )
    assert code == 2 and "--without-outcome needs an input topic" in err, err


async def test_the_plan_finds_the_commands_no_worker_answered_forwarded_or_dead_lettered(
    stack: Stack,
) -> None:
    commands = stack.topics["commands"]
    worker = stack.worker()
    await ready(worker)
    orders = keys_the_partitioners_disagree_on(2)
    await capture_required_orders(stack, worker, *orders)
    captures = [command("capture", order) for order in orders]  # off their order's partition: forwarded
    items = [(c["orderId"], orjson.dumps(c)) for c in captures]
    offside = b'{"type": "refund", "orderId": "%s"}' % orders[1].encode()  # no id, forwarded too
    await asyncio.to_thread(librdkafka_produce, stack.bootstrap, commands, [*items, (orders[1], offside)])
    refund = b'{"type": "refund", "orderId": "%s"}' % orders[0].encode()
    unnamed = await _produce_one(stack, commands, refund, key=orders[0])  # on its order's partition
    await _produce_one(stack, commands, b"not json")  # names no order: dead-lettered
    where = f"{commands}:{unnamed[0]}:{unnamed[1]}"  # the eventId of the answer to a command without an id
    await answers(stack, *(c["commandId"] for c in captures), where)
    await wait_for(lambda: _answered_by_position(stack, 2), 30, "the forwarded command's answer")
    await wait_for(lambda: _dead_letters(stack), 30, "the unreadable command's dead letter")
    worker.process.stop()
    late = await _produce_one(stack, commands, orjson.dumps(command("cancel", orders[1])))

    plan = await replay(stack, "--topic", commands, "--last", "1h")
    totals = plan["totals"]
    # two captures, the command without an id put off its partition, their three copies, the
    # command without an id, the unreadable one, the late one
    assert (totals["records"], totals["deadLettered"], totals["noOutcome"]) == (9, 1, 1)
    assert [(p["partition"], o) for p in plan["partitions"] for o in p["noOutcomeOffsets"]] == [late]


async def _produce_one(stack: Stack, topic: str, value: bytes, key: str = "k") -> tuple[int, int]:
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, value, key.encode())
    finally:
        await producer.stop()
    return sent.partition, sent.offset


async def _answered_by_position(stack: Stack, count: int) -> list[str] | None:
    """The eventIds of the answers to commands without an id (``topic:partition:offset``), once ``count``."""
    statuses = values(await read_all(stack.bootstrap, stack.topics["status"]))
    found = [
        s["eventId"]
        for s in statuses
        if s["source"] == "command" and s["eventId"].startswith(stack.topics["commands"])
    ]
    return found if len(found) >= count else None


async def _dead_letters(stack: Stack) -> list[Any] | None:
    return await read_all(stack.bootstrap, stack.topics["dlq"]) or None
