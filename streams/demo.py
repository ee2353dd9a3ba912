"""``flexbridge demo``: the whole stack on this machine, realistic traffic, a reconciliation at the end.

Starts the embedded broker, the Flex sandbox and one worker; injects a modest rate of Flex faults
(503/429/500 with Retry-After) so retries show; publishes a mix of approvals, CIT and MIT declines
and malformed events; shows progress; then reconciles every event against the sandbox journal,
``orders.status`` and ``payments.dlq``. Exit code 0 only when every event is accounted for.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from streams.broker import EmbeddedBroker
from streams.demo_view import Monitor, progress, summary_table
from streams.procs import Child, free_port
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
DEV_KEY, DEV_SECRET = "flexbridge-dev-key", "flexbridge-dev-secret"


def run_demo(events: int = 1200, workdir: str = ".demo") -> int:
    Path(workdir).mkdir(parents=True, exist_ok=True)
    return asyncio.run(_demo(events, Path(workdir)))


async def _demo(count: int, workdir: Path) -> int:
    console = Console()
    started = time.monotonic()
    broker = EmbeddedBroker(free_port(), log_path=workdir / "broker.log")
    children: list[Child] = []
    try:
        with console.status("starting broker, sandbox and worker…"):
            await broker.start()
            cli = [sys.executable, "-m", "streams.cli"]
            sandbox = Child("sandbox", [*cli, "sandbox", "--port", "0"], {}, workdir / "sandbox.log")
            children.append(sandbox)
            base = (await asyncio.to_thread(sandbox.wait_line, r"listening on (http://\S+/v1/)", 30)).group(1)
            await asyncio.to_thread(sandbox.wait_line, r"^ready$", 30)
            web_port = free_port()
            worker = Child(
                "worker",
                [*cli, "worker"],
                _worker_env(broker.bootstrap, base, web_port),
                workdir / "worker.log",
            )
            children.append(worker)
            await asyncio.to_thread(worker.wait_ready, f"http://127.0.0.1:{web_port}/ready", 60)
        console.print(
            f"stack up in {time.monotonic() - started:.1f} s — broker {broker.bootstrap}, "
            f"sandbox {base}, worker http://127.0.0.1:{web_port}  (logs in {workdir}/)"
        )
        root = base.removesuffix("v1/")
        async with httpx.AsyncClient(base_url=root, timeout=10) as http:
            await http.post("/_sandbox/faults", json=FAULTS)
            console.print(f"sandbox faults on: {FAULTS['rate']:.0%} of Flex calls answer 503/429/500")
            planned = plan(count)
            monitor = Monitor(broker.bootstrap, http)
            async with monitor:
                with progress(console) as bars:
                    await monitor.publish_and_watch(planned, bars, deadline=time.monotonic() + 150)
                await http.delete("/_sandbox/faults")
                observed = await monitor.observed()
            retries = await _retries(f"http://127.0.0.1:{web_port}/metrics")
        result = reconcile(planned, observed)
        console.print(summary_table(result, retries, time.monotonic() - started))
        for line in result.examples:
            console.print(f"  [red]{line}[/red]")
        return 0 if result.ok else 1
    finally:
        for child in reversed(children):
            await asyncio.to_thread(child.stop)
        broker.stop()


def _worker_env(bootstrap: str, base_url: str, web_port: int) -> dict[str, str]:
    return {
        "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE": "false",
        "FLEXBRIDGE_KAFKA__GROUP_ID": "flexbridge-demo",
        "FLEXBRIDGE_FLEX__BASE_URL": base_url,
        "FLEXBRIDGE_FLEX__APP_KEY": os.environ.get("FLEXBRIDGE_FLEX__APP_KEY", DEV_KEY),
        "FLEXBRIDGE_FLEX__APP_SECRET": os.environ.get("FLEXBRIDGE_FLEX__APP_SECRET", DEV_SECRET),
        "FLEXBRIDGE_FLEX__MID": "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31",
        "FLEXBRIDGE_WEB__PORT": str(web_port),
        "FLEXBRIDGE_ROUTING__MIT": "api",
    }


async def _retries(metrics_url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(metrics_url)).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("flexbridge_flex_retries_total"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)
