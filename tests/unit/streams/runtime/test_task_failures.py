"""``flexbridge_task_failures_total{kind}``: every failure of a supervised loop, a watched task or a
Faust agent is counted, each series exported at 0 from the start (streams/runtime/supervise.py
``count_failures``, streams/runtime/worker.py ``count_agent_failures``)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest

from streams.runtime import supervise as supervise_module
from streams.runtime.metrics import Metrics
from streams.runtime.supervise import count_failures, supervise, watch
from streams.runtime.worker import count_agent_failures


def _failures(metrics: Metrics) -> dict[str, float]:
    text = metrics.render().decode()
    return {
        kind: float(line.rsplit(" ", 1)[1])
        for kind in ("agent", "loop", "task")
        for line in text.splitlines()
        if line.startswith(f'flexbridge_task_failures_total{{kind="{kind}"}}')
    }


def test_a_fresh_worker_exports_every_kind_at_zero() -> None:
    assert _failures(Metrics()) == {"agent": 0.0, "loop": 0.0, "task": 0.0}


async def test_each_death_of_a_loop_or_a_watched_task_is_counted_until_counting_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervise_module, "FIRST_BACKOFF_SECONDS", 0.01)
    metrics = Metrics()
    uncount = count_failures(metrics.task_failed)
    runs: list[int] = []

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise KeyError("revoked meanwhile")

    async def short() -> None:
        raise ValueError("a bug")

    try:
        await asyncio.wait_for(supervise("commit-loop", loop), 5)  # dies twice, then returns
        task = watch(asyncio.create_task(short(), name="upload-f1"))
        await asyncio.wait([task])
        await asyncio.sleep(0)  # the done callback runs
    finally:
        uncount()
    assert _failures(metrics) == {"agent": 0.0, "loop": 2.0, "task": 1.0}

    after = watch(asyncio.create_task(short()))
    await asyncio.wait([after])
    await asyncio.sleep(0)
    assert _failures(metrics)["task"] == 1.0  # no longer counted


async def test_an_agent_that_raises_is_counted_and_faust_still_handles_it() -> None:
    app = faust.App("task-failures-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    handled: list[BaseException] = []

    async def faust_own(agent: Any, exc: BaseException) -> None:  # stands for Faust's _on_agent_error
        handled.append(exc)

    app._on_agent_error = faust_own  # type: ignore[method-assign]
    metrics = Metrics()
    count_agent_failures(app, metrics.task_failed)

    @app.agent(app.channel(), name="order-state")
    async def fold(stream: Any) -> None:
        async for _ in stream:
            pass

    boom = RuntimeError("async generator raised StopAsyncIteration")

    async def run() -> None:
        raise boom

    class Actor:  # what Faust's actor does on a crash, recorded
        crashed: list[BaseException] = []

        async def crash(self, exc: BaseException) -> None:
            self.crashed.append(exc)

    class Supervisor:
        def wakeup(self) -> None:  # starts the agent again
            pass

    fold.supervisor = Supervisor()
    actor = Actor()
    await fold._execute_actor(run(), actor)  # where Faust runs an agent and handles what it raises

    assert _failures(metrics)["agent"] == 1.0
    assert handled == [boom] and actor.crashed == [boom]
