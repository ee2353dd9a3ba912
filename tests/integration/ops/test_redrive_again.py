"""A dead letter whose record was sent again and dead-lettered again is superseded: a redrive sends
only the latest dead letter of each record, so redriving twice sends each event once, not twice."""

from __future__ import annotations

import pytest

from streams.local.traffic import plan
from tests.conftest import Stack
from tests.flows import publish, ready
from tests.integration.ops.test_dlq import all_dead_lettered, cli_json
from tests.support import read_all

pytestmark = pytest.mark.integration


async def test_each_redrive_sends_every_event_once_while_its_cause_stays(stack: Stack) -> None:
    stack.sandbox.call(
        "POST", "/_sandbox/faults", {"rate": 1.0, "statuses": [503], "paths": ["/v1/evaluate"]}
    )  # never fixed: every copy is dead-lettered again
    worker = stack.worker(FLEXBRIDGE_FLEX__DEADLINE_SECONDS=1, FLEXBRIDGE_FLEX__BACKOFF_MAX_SECONDS=0.2)
    await ready(worker)
    cit = [p for p in plan(100, seed=37) if p.kind == "cit-approved"][:3]
    await publish(stack, cit)
    await all_dead_lettered(stack, {"retries-exhausted": 3})

    # one record sent again by a replay of its source position, the others by a redrive
    first = await cli_json(stack, "dlq", "redrive", "--json")
    assert (first["totals"]["toSend"], first["totals"]["superseded"]) == (3, 0)
    source = next(
        r for r in await read_all(stack.bootstrap, stack.topics["declined"]) if r.key == cit[0].key.encode()
    )
    replayed = await cli_json(
        stack, "replay", "--topic", stack.topics["declined"], "--partition", str(source.partition),
        "--from-offset", str(source.offset), "--to-offset", str(source.offset), "--execute", "--json",
    )  # fmt: skip
    assert replayed["sent"] == 1
    await all_dead_lettered(stack, {"retries-exhausted": 4})
    redriven = await cli_json(stack, "dlq", "redrive", "--execute", "--json")
    # the replayed record's first dead letter is superseded by its copy's
    assert (redriven["totals"]["toSend"], redriven["totals"]["superseded"], redriven["sent"]) == (3, 1, 3)
    await all_dead_lettered(stack, {"retries-exhausted": 7})

    again = await cli_json(stack, "dlq", "redrive", "--execute", "--json")
    assert (again["totals"]["toSend"], again["totals"]["superseded"], again["sent"]) == (3, 4, 3)
    await all_dead_lettered(stack, {"retries-exhausted": 10})
    sent = [r for r in await read_all(stack.bootstrap, stack.topics["declined"]) if r.headers]  # the copies
    assert sorted(r.key for r in sent) == sorted([p.key.encode() for p in cit] * 2 + [cit[0].key.encode()])
