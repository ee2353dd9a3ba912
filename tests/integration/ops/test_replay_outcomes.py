"""`flexbridge replay`'s plan of a flows' input topic finds the records that have no outcome: on
the real broker, against a real worker's ledger entries and dead letters."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streams.local.traffic import plan
from tests.conftest import Stack
from tests.flows import publish, ready, settle
from tests.integration.ops.test_replay import replay
from tests.support import read_all, run_flexbridge

pytestmark = pytest.mark.integration

FINISHED = {"cit-declined", "cit-approved"}  # answered by Flex: a ledger entry each
DEAD = {"flex-rejects", "bad-json", "raw-pan"}  # a dead letter each (raw-pan's with its card data masked)


async def test_the_plan_finds_the_records_no_worker_finished_or_dead_lettered(stack: Stack) -> None:
    declined = stack.topics["declined"]
    worker = stack.worker()
    await ready(worker)
    planned = [p for p in plan(60, seed=23) if p.kind in FINISHED | DEAD]
    first = next(
        i for i, p in enumerate(planned) if p.kind in FINISHED
    )  # its id spelled as PaymentEvent also reads it
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

    await ready(stack.worker())  # a worker again: it reads on from where the first one stopped
    assert (await settle(stack, planned + later)).ok
    dry = await replay(stack, "--topic", declined, "--last", "1h")
    totals = dry["totals"]
    assert (totals["finished"], totals["deadLettered"], totals["noOutcome"]) == (
        n_finished + len(later),
        n_dead,
        0,
    )
    code, out, err = await run_flexbridge(stack.env, "replay", "--topic", declined, "--last", "1h")
    assert code == 0 and f"Every record has an outcome ({n_dead} dead-lettered)" in out, err
