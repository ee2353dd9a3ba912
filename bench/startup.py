"""Seconds from ``flexbridge worker`` to a 200 on ``/ready`` on the embedded broker."""

from __future__ import annotations

import asyncio
import statistics
import time

from bench import targets
from bench.common import Figure
from streams.local.stack import LocalStack

__all__ = ["bench_startup"]


async def bench_startup(stack: LocalStack, runs: int = 3) -> list[Figure]:
    times = []
    for run in range(runs):
        started = time.monotonic()
        worker = stack.spawn_worker(f"startup-{run}", FLEXBRIDGE_KAFKA__GROUP_ID=f"bench-startup-{run}")
        await asyncio.to_thread(worker.child.wait_ready, worker.url + "/ready", 60)
        times.append(time.monotonic() - started)
        await asyncio.to_thread(worker.child.stop)
    return [
        Figure(
            "start-up",
            "worker to /ready (median)",
            statistics.median(times),
            "s",
            targets.STARTUP_SECONDS,
            at_most=True,
            note=f"{runs} starts: " + ", ".join(f"{t:.1f}" for t in times),
        ),
    ]
