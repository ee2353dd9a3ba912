"""``flexbridge demo``: the whole stack on this machine, realistic traffic, a reconciliation at the end.

Three merchants share the same topics (streams/local/merchants.py): ``acme`` sends its MIT
declines by SFTP, ``bolt`` everything by the API, ``cora`` its approvals as ``transmit_`` batch
files. The demo writes their merchants file into its workdir (secrets in files, SFTP key pairs
generated there), which the sandbox (``--merchants``) and the worker (``FLEXBRIDGE_MERCHANTS_FILE``)
both read. It starts the embedded broker, the Flex sandbox and one worker; injects a modest rate of
Flex faults (503/429/500 with Retry-After) so retries show; publishes a mix of approvals, CIT and
MIT declines, malformed events and a few events of no configured merchant, each carrying its
merchant's ``mid``; shows progress; then reconciles every event against the sandbox journal, the
``transmit_`` response files, ``orders.status`` and ``payments.dlq``, and each merchant on its own
against what Flex saw under its MID. Last it stops the worker and reads its log for an agent or a
task that crashed inside it. Exit code 0 only when every event of every merchant is accounted for
and the worker stopped cleanly.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from core.config import secret_variables
from streams.local.demo_orders import mit_outcomes, plan_commands
from streams.local.demo_view import Monitor, lifecycle_table, merchants_table, progress, summary_table
from streams.local.merchants import DEMO_MERCHANTS, LocalMerchant, sftp_root, write_merchants_file
from streams.local.procs import free_port
from streams.local.reconciliation import Observed, reconcile, reconcile_merchants
from streams.local.stack import LocalStack, RunningWorker, metric_total
from streams.local.traffic import UNKNOWN_MERCHANT, Planned, plan

__all__ = ["run_demo"]

FAULTS = {
    "rate": 0.1,
    "statuses": [503, 429, 500],
    "retryAfterSeconds": 1,
    "latencyMs": 20,
    "paths": ["/v1/evaluate", "/v1/transmit"],
    "seed": 11,
}


def run_demo(events: int = 1200, workdir: str = ".demo", keep: bool = False) -> int:
    Path(workdir).mkdir(parents=True, exist_ok=True)
    return asyncio.run(_demo(events, Path(workdir), keep))


async def _demo(count: int, workdir: Path, keep: bool = False) -> int:
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
            planned = plan(count, merchants=[(m.name, m.mid) for m in DEMO_MERCHANTS])
            outbound = {m.mid: sftp_root(stack.state_dir, m) / "outbound" for m in DEMO_MERCHANTS if m.sftp}
            monitor = Monitor(stack.bootstrap, http, outbound)
            commands, observed = await _drive(console, monitor, http, planned, worker.url)
            batches = (await http.get("/_sandbox/batches")).json()["batches"]
            retries = int(await metric_total(worker.url, "flexbridge_flex_retries_total"))
        seconds = time.monotonic() - started
        code = _report(console, planned, commands, observed, batches, retries, seconds)
        if keep:
            await _keep(console, stack, worker, workdir)
        if not await _stopped(console, worker):
            code = 1
    return code


def _report(
    console: Console,
    planned: list[Planned],
    commands: list[Planned],
    observed: Observed,
    batches: list[dict[str, Any]],
    retries: int,
    seconds: float,
) -> int:
    """The reconciliation tables; 0 when every event of every merchant is accounted for."""
    result = reconcile(planned, observed)
    merchants = reconcile_merchants(planned, observed)
    orders = reconcile(commands, observed)
    outcomes = mit_outcomes(_batch_mit(planned), observed.statuses)
    mit = len(_batch_mit(planned))
    console.print(summary_table(result, retries, seconds))
    console.print(merchants_table(merchants, _routes(DEMO_MERCHANTS)))
    console.print(lifecycle_table(batches, outcomes, mit, orders))
    for line in result.examples + orders.examples:
        console.print(f"  [red]{line}[/red]")
    every_merchant = all(r.ok for r in merchants.values())
    return 0 if result.ok and every_merchant and orders.ok and sum(outcomes.values()) == mit else 1


async def _keep(console: Console, stack: LocalStack, worker: RunningWorker, workdir: Path) -> None:
    """Leave the stack up for the operator verbs until Ctrl-C (or SIGTERM): the settings they need,
    secrets left out (the merchants file names the secret files), in ``workdir/stack.env``."""
    env = {k: v for k, v in stack.worker_env(worker.port).items() if k not in secret_variables()}
    path = workdir / "stack.env"
    path.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(env.items())))
    console.print(
        f"The stack stays up. In another shell: set -a; . {path}; set +a — then, e.g., flexbridge dlq "
        "list, flexbridge reconcile, flexbridge order ORDER_ID, flexbridge replay --topic payments.declined "
        "--last 1h (a plan: nothing is sent without --execute). Ctrl-C here stops it."
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()


async def _stopped(console: Console, worker: RunningWorker) -> bool:
    """Stop the worker and read its log: an agent or a task that crashed inside it, its stop included,
    is a bug the reconciliation cannot see (nothing need be lost). True when it stopped cleanly."""
    code = await asyncio.to_thread(worker.child.stop)
    crashed = worker.child.crash_lines()
    log = worker.child.log_path
    for line in crashed[:5]:
        console.print(f"  {line}", style="red", markup=False, highlight=False)  # brackets: not markup
    if crashed or code != 0:
        what = f"the worker stopped with exit code {code}; {len(crashed)} crash line(s) in {log}"
        console.print(what, style="red")
        return False
    console.print(f"worker stopped cleanly: no agent or task crashed in it ({log})")
    return True


def _routes(merchants: tuple[LocalMerchant, ...]) -> dict[str, tuple[str, str]]:
    """How each merchant's MIT declines and approvals reach Flex, for the per-merchant table."""

    def way(merchant: LocalMerchant, flow: str) -> str:
        return "SFTP" if flow in merchant.routes("sftp") else "API"

    routes = {m.name: (way(m, "mit"), way(m, "transmit")) for m in merchants}
    return routes | {UNKNOWN_MERCHANT: ("-", "-")}


async def _start(console: Console, stack: LocalStack, workdir: Path) -> RunningWorker:
    """The merchants file, the broker, the whole sandbox (API, SFTP, webhooks to the worker) serving
    its merchants, and one worker reading it."""
    with console.status("starting broker, sandbox (API, SFTP, webhooks) and worker…"):
        merchants = await asyncio.to_thread(write_merchants_file, workdir / "merchants", DEMO_MERCHANTS)
        web_port = free_port()
        await stack.start_full_sandbox(webhook_port=web_port, merchants=merchants)
        return await stack.start_worker(port=web_port)


async def _folded(
    worker_url: str, commands: list[Planned], statuses: list[dict[str, Any]], deadline: float
) -> None:
    """Until the worker's order table holds the latest status of every order a command names: a
    command is checked against that table, which can trail ``orders.status`` by a moment."""
    latest = {str(s["orderId"]): str(s["status"]) for s in statuses}
    waiting = {c.key for c in commands if c.key in latest}
    async with httpx.AsyncClient(base_url=worker_url, timeout=5) as http:
        while waiting and time.monotonic() < deadline:
            for order_id in sorted(waiting):
                answer = await http.get(f"/orders/{order_id}")
                if answer.status_code == 200 and answer.json().get("status") == latest[order_id]:
                    waiting.discard(order_id)
            if waiting:
                await asyncio.sleep(0.2)


def _batch_mit(planned: list[Planned]) -> list[Planned]:
    """The MIT rebills of the merchants that send MIT by SFTP: Flex settles those orders later
    (the sandbox after ``--sftp-settle``) and reports the outcome by webhook."""
    by_sftp = {m.name for m in DEMO_MERCHANTS if "mit" in m.routes("sftp")}
    return [p for p in planned if p.kind == "mit-rebill" and p.merchant in by_sftp]


async def _drive(
    console: Console, monitor: Monitor, http: httpx.AsyncClient, planned: list[Planned], worker_url: str
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
                len(_batch_mit(planned)),
                lambda seen: sum(mit_outcomes(_batch_mit(planned), seen.statuses).values()),
                deadline=time.monotonic() + 60,
            )
            statuses = (await monitor.observed()).statuses
            commands = plan_commands(planned, statuses)
            await _folded(worker_url, commands, statuses, deadline=time.monotonic() + 60)
            await monitor.publish_and_watch(commands, bars, deadline=time.monotonic() + 60)
        return commands, await monitor.observed()
