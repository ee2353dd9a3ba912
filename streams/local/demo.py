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

from streams.local.demo_orders import mit_outcomes, plan_commands
from streams.local.demo_view import Monitor, lifecycle_table, progress, summary_table
from streams.local.procs import free_port
from streams.local.reconciliation import Observed, reconcile
from streams.local.stack import LocalStack, RunningWorker, metric_total
from streams.local.traffic import Planned, plan

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
        worker = await _start(console, stack, workdir)
        console.print(
            f"stack up in {time.monotonic() - started:.1f} s — broker {stack.bootstrap}, "
            f"sandbox {stack.base_url} (SFTP on port {stack.env['FLEXBRIDGE_SFTP__PORT']}), "
            f"worker {worker.url}  (logs in {workdir}/)"
        )
        async with httpx.AsyncClient(base_url=stack.sandbox_root, timeout=10) as http:
            await http.post("/_sandbox/faults", json=FAULTS)
            console.print(f"sandbox faults on: {FAULTS['rate']:.0%} of Flex calls answer 503/429/500")
            planned = plan(count)
            commands, observed = await _drive(console, Monitor(stack.bootstrap, http), http, planned)
            batches = (await http.get("/_sandbox/batches")).json()["batches"]
            retries = int(await metric_total(worker.url, "flexbridge_flex_retries_total"))
    result = reconcile(planned, observed)
    orders = reconcile(commands, observed)
    outcomes = mit_outcomes(planned, observed.statuses)
    mit = _mit_count(planned)
    console.print(summary_table(result, retries, time.monotonic() - started))
    console.print(lifecycle_table(batches, outcomes, mit, orders))
    for line in result.examples + orders.examples:
        console.print(f"  [red]{line}[/red]")
    return 0 if result.ok and orders.ok and sum(outcomes.values()) == mit else 1


async def _start(console: Console, stack: LocalStack, workdir: Path) -> RunningWorker:
    """The broker, the whole sandbox (API, SFTP, webhooks to the worker) and one worker."""
    with console.status("starting broker, sandbox (API, SFTP, webhooks) and worker…"):
        web_port = free_port()
        await stack.start_full_sandbox(webhook_port=web_port)
        return await stack.start_worker(port=web_port)


def _mit_count(planned: list[Planned]) -> int:
    return sum(1 for p in planned if p.kind == "mit-rebill")


async def _drive(
    console: Console, monitor: Monitor, http: httpx.AsyncClient, planned: list[Planned]
) -> tuple[list[Planned], Observed]:
    """Publish the events (faults on), wait for the MIT webhooks (faults off), then publish the order
    commands; returns the commands and everything observed."""
    async with monitor:
        with progress(console) as bars:
            await monitor.publish_and_watch(planned, bars, deadline=time.monotonic() + 150)
            await http.delete("/_sandbox/faults")
            await monitor.watch(
                bars,
                "MIT by webhook",
                _mit_count(planned),
                lambda seen: sum(mit_outcomes(planned, seen.statuses).values()),
                deadline=time.monotonic() + 60,
            )
            commands = plan_commands(planned, (await monitor.observed()).statuses)
            await monitor.publish_and_watch(commands, bars, deadline=time.monotonic() + 60)
        return commands, await monitor.observed()
