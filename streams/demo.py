"""``flexbridge demo``: the whole stack on this machine, realistic traffic, a reconciliation at the end.

Starts the embedded broker, the Flex sandbox and one worker; injects a modest rate of Flex faults
(503/429/500 with Retry-After) so retries show; publishes a mix of approvals, CIT and MIT declines
and malformed events; shows progress; then reconciles every event against the sandbox journal,
``orders.status`` and ``payments.dlq``. Exit code 0 only when every event is accounted for.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from rich.console import Console

from streams.demo_view import Monitor, progress, summary_table
from streams.local_stack import LocalStack
from streams.reconcile import reconcile
from streams.traffic import plan

__all__ = ["run_demo"]

FAULTS = {
    "rate": 0.1,
    "statuses": [503, 429, 500],
    "retryAfterSeconds": 1,
    "latencyMs": 20,
    "paths": ["/v1/evaluate", "/v1/transmit"],
    "seed": 11,
}


def run_demo(events: int = 1200, workdir: str = ".demo") -> int:
    Path(workdir).mkdir(parents=True, exist_ok=True)
    return asyncio.run(_demo(events, Path(workdir)))


async def _demo(count: int, workdir: Path) -> int:
    console = Console()
    started = time.monotonic()
    async with LocalStack(workdir) as stack:
        with console.status("starting broker, sandbox and worker…"):
            await stack.start_sandbox()
            stack.env["FLEXBRIDGE_ROUTING__MIT"] = "api"
            worker = await stack.start_worker()
        console.print(
            f"stack up in {time.monotonic() - started:.1f} s — broker {stack.bootstrap}, "
            f"sandbox {stack.base_url}, worker {worker.url}  (logs in {workdir}/)"
        )
        async with httpx.AsyncClient(base_url=stack.sandbox_root, timeout=10) as http:
            await http.post("/_sandbox/faults", json=FAULTS)
            console.print(f"sandbox faults on: {FAULTS['rate']:.0%} of Flex calls answer 503/429/500")
            planned = plan(count)
            monitor = Monitor(stack.bootstrap, http)
            async with monitor:
                with progress(console) as bars:
                    await monitor.publish_and_watch(planned, bars, deadline=time.monotonic() + 150)
                await http.delete("/_sandbox/faults")
                observed = await monitor.observed()
            retries = await _retries(worker.url + "/metrics")
    result = reconcile(planned, observed)
    console.print(summary_table(result, retries, time.monotonic() - started))
    for line in result.examples:
        console.print(f"  [red]{line}[/red]")
    return 0 if result.ok else 1


async def _retries(metrics_url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(metrics_url)).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("flexbridge_flex_retries_total"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)
