"""Every target the benchmark checks, in one place; a figure's verdict (PASS/MISS) comes from these.

A target is met when the figure is at least it, or at most it for ``AT_MOST`` figures (latency,
CPU, memory, time)."""

from __future__ import annotations

import os

__all__ = [
    "COMMANDS_VS_ONE_AT_A_TIME",
    "EVALUATE_ADDED_P99_MS",
    "MERCHANTS_EXTRA_THREADS",
    "MERCHANTS_RSS_VS_ONE",
    "MIT_CPU_PER_RECORD_US",
    "MIT_PATH_VS_CEILING",
    "MIT_PEAK_RSS_GROWTH_PCT",
    "MIT_PEAK_RSS_MB",
    "MIT_WORKER_VS_PATH",
    "STARTUP_SECONDS",
    "TRANSMIT_VS_NAIVE",
    "TRANSMIT_VS_SHARDED_LOOP",
    "WEBHOOKS_VS_BARE",
]

# transmit: flexbridge against the naive consumer and against a bare loop with the same sharded pools
TRANSMIT_VS_NAIVE = 20.0
TRANSMIT_VS_SHARDED_LOOP = 0.8
# evaluate: added p99 (end to end minus the sandbox's own service time) by load point, declines/s
EVALUATE_ADDED_P99_MS = {100: 15.0, 500: 25.0}
# webhooks: flexbridge's receiver against a bare aiohttp handler
WEBHOOKS_VS_BARE = 0.6
# MIT batch, against OpenSSH's sftp-server
MIT_CPU_PER_RECORD_US = 20.0  # the batch path's own CPU per record
MIT_PATH_VS_CEILING = 0.5  # the batch path against the bare read-write-upload loop
MIT_WORKER_VS_PATH = 0.7  # the full worker (MIT route on) against the batch path alone
MIT_PEAK_RSS_MB = 300.0
MIT_PEAK_RSS_GROWTH_PCT = 20.0  # peak RSS at the end within this of the peak at 25 % of the records
# commands: one worker's cancels/s (16 at once, the default) against the same worker running one at
# a time; each command makes two Flex calls of 50 ms, so 16 at once could reach 16x at most
COMMANDS_VS_ONE_AT_A_TIME = 8.0
# start-up: worker to a 200 on /ready
STARTUP_SECONDS = 5.0
# many merchants (500 configured, 50 active) against one, in one worker: memory, and no thread per
# merchant: the only extra threads allowed are those of asyncio's default executor (DNS lookups and
# file reads of the SFTP connections), min(32, CPUs + 4) at most
MERCHANTS_RSS_VS_ONE = 1.5
MERCHANTS_EXTRA_THREADS = min(32, (os.cpu_count() or 1) + 4)
