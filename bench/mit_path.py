"""``python -m bench.mit_path COUNT``: the SFTP batch path alone, in its own process, timed.

What a worker wires for ``FLEXBRIDGE_ROUTING__MIT=sftp`` (streams/runtime/batch/path.py ``BatchPath``: the
aiokafka batch consumer, the uploader with its producer and Flex token source, the SFTP client, the
durable registry and the result poller), configured by the same ``FLEXBRIDGE_`` variables, without
Faust, the real-time pipeline or the web server; with a worker's garbage collector settings once
started (streams/runtime/collector.py). It samples its own batch stats every 50 ms with the
clock of bench/mit.py (from the last sample before the first record to the first sample with
``COUNT`` records renamed into the inbound folder), then prints one JSON line ``{"started",
"ended", "hwm_quarter", "hwm_end", "cpu_seconds", "samples", "stats"}`` (times: ``time.monotonic()``, which
the parent shares on Linux) and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

import orjson

from bench.mit import RESULT_PREFIX, Run
from consumers.flex.client import FlexClient
from core.config import load_settings
from streams.kafka.clients import make_producer
from streams.kafka.topics import all_topics, ensure_topics
from streams.runtime.batch.path import BatchPath
from streams.runtime.collector import settle_gc
from streams.runtime.deps import Deps
from streams.runtime.metrics import Metrics

__all__ = ["main", "run_path"]


async def run_path(count: int, timeout: float) -> tuple[Run, dict[str, Any]]:
    """Start the batch path, follow it until ``count`` records are uploaded, stop it; its stats then."""
    settings = load_settings()
    await ensure_topics(settings.kafka, all_topics(settings.topics))
    producer = make_producer(settings.kafka)
    flex = FlexClient(settings.flex)
    await producer.start()
    deps = Deps.build(settings, producer, Metrics())
    s = settings
    path = BatchPath(
        deps, batch=s.batch, sftp=s.sftp, pipeline=s.pipeline, token=lambda _m: flex.ensure_token()
    )
    run = Run(count, os.getpid())
    try:
        await flex.ensure_token()
        await path.start()
        settle_gc()  # as a worker does once started
        await _follow(path, run, time.monotonic() + timeout)
        stats = path.stats()
    finally:
        await path.stop()
        await producer.stop()
        await flex.aclose()
    return run, stats


async def _follow(path: BatchPath, run: Run, deadline: float) -> None:
    """Sample every 50 ms until every record is uploaded."""
    while run.ended is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run.count} MIT records not uploaded in time")
        run.observe(time.monotonic(), path.stats())
        await asyncio.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mit_path", description=__doc__)
    parser.add_argument("count", type=int)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    run, stats = asyncio.run(run_path(args.count, args.timeout))
    result = {
        "started": run.started,
        "ended": run.ended,
        "hwm_quarter": run.hwm_quarter,
        "hwm_end": run.hwm_end,
        "cpu_seconds": run.cpu_seconds,
        "samples": run.samples,
        "stats": stats,
    }
    print(RESULT_PREFIX + orjson.dumps(result).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
