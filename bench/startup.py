"""Seconds from ``flexbridge worker`` to a 200 on ``/ready`` on the embedded broker."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from bench import targets
from bench.common import Figure
from streams.local.stack import LocalStack, RunningWorker

__all__ = ["bench_startup"]


async def _ready(worker: RunningWorker, timeout: float = 60.0, every: float = 0.02) -> float:
    """The monotonic time ``/ready`` first answered 200, polled every 20 ms (the 0.2 s of the local
    stack's wait_ready would add 0.1 s on average to a figure of a few seconds)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if worker.child.proc.poll() is not None:
                raise RuntimeError(f"worker exited with code {worker.child.proc.returncode}")
            try:
                if (await http.get(worker.url + "/ready")).status_code == 200:
                    return time.monotonic()
            except httpx.TransportError:
                pass
            await asyncio.sleep(every)
    raise TimeoutError(f"worker not ready within {timeout:.0f} s")


async def bench_startup(stack: LocalStack, runs: int = 3) -> list[Figure]:
    times = []
    for run in range(runs):
        started = time.monotonic()
        worker = stack.spawn_worker(f"startup-{run}", FLEXBRIDGE_KAFKA__GROUP_ID=f"bench-startup-{run}")
        times.append(await _ready(worker) - started)
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
