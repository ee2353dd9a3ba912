"""The operator's check as a chaos invariant: ``flexbridge replay``'s plan of each input topic, run
as an operator runs it (docs/operations.md "Outcomes"), finds no record without an outcome.

It counts by Kafka alone (the ledger, ``orders.status``, the DLQ), where the checker's other
invariants count by what the sandbox saw, so the two agree only if both are right.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from typing import Any

import orjson

from bench.checker import Invariant
from streams.local.procs import free_port
from streams.local.stack import CLI, LocalStack

__all__ = ["every_record_has_an_outcome"]

INPUTS = ("approved", "declined", "commands")


async def every_record_has_an_outcome(
    stack: LocalStack, topics: Mapping[str, str], timeout: float
) -> Invariant:
    """Plan each input topic until none of its records is without an outcome, or ``timeout`` passes
    (a ledger entry is written last, a moment after what the other invariants see)."""
    deadline = time.monotonic() + timeout
    while True:
        plans = {name: await _plan(stack, topics[name]) for name in INPUTS}
        missing = {name: plan["totals"]["noOutcome"] for name, plan in plans.items()}
        if not any(missing.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    examples = [
        f"{topics[name]} {p['partition']}:{offset}"
        for name, plan in plans.items()
        for p in plan["partitions"]
        for offset in p["noOutcomeOffsets"]
    ]
    records = sum(plan["totals"]["records"] for plan in plans.values())
    return Invariant(
        "every input record has an outcome by Kafka alone: finished, answered or dead-lettered "
        "(flexbridge replay's plan)",
        not any(missing.values()),
        f"{sum(missing.values())} of {records} without one ("
        + ", ".join(f"{name} {n}" for name, n in missing.items())
        + ")",
        examples[:5],
    )


async def _plan(stack: LocalStack, topic: str) -> dict[str, Any]:
    args = ("replay", "--topic", topic, "--from-offset", "0", "--json")
    env = {**os.environ, **stack.worker_env(free_port())}  # the settings a worker runs with
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"flexbridge {' '.join(args)} exited {proc.returncode}: {err.decode()[-2000:]}")
    plan: dict[str, Any] = orjson.loads(out)
    return plan
