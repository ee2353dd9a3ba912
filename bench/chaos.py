"""``make chaos``: a steady mixed workload through every flow while a nemesis injects faults, then a
checker proves nothing was lost or applied twice. Exit code 1 on any violated invariant.

Workload: approvals, CIT declines, managed-MIT rebills through SFTP batch files, malformed events;
the sandbox's webhooks for every order change (to the main worker, with retries); two rounds of
refunds, captures and cancels on the commands topic.

Nemesis: the sandbox answers 5xx, 429 with Retry-After, hangs past the client timeout, drops
connections and loses answers after the effect; its SFTP server drops sessions mid-upload; the main
worker is SIGKILLed on a schedule spread over the workload window (whatever it is doing: records in
flight, or still starting and recovering its tables after the last kill) and restarted on the same
port without waiting for it; a second worker joins and leaves to force rebalances. ``--mode
rebalance`` makes it join or leave every ~4 s; ``--mode rolling`` runs three workers instead and
restarts them one at a time as a deploy does (SIGTERM, wait for the exit, start the replacement,
wait until ready), with no SIGKILL. Webhooks go to the main worker only (one endpoint), so two
workers never receive the same delivery at once (a documented limit of the receiver's
deduplication, docs/webhooks.md). ``--cpu-hog`` keeps one core busy beside the run, as a noisy
machine does. ``--merchants`` runs the workload for three merchants on the same topics, as a payment
processor does (the demo's: each with its own credentials, SFTP account, webhook key and routes, one
sending MIT by API and one approvals by SFTP), plus events of a ``mid`` no merchant has; the checker
then also reconciles each merchant on its own, against what Flex saw under that merchant.

Besides the checker's invariants, no worker may crash: every worker the run started is still
running at the end, or was stopped by the run and exited with code 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from bench.chaos_checks import Lifecycle, lifecycle_invariants
from bench.chaos_nemesis import HEAVY_REBALANCE_EVERY, MODES, ChaosResult, Nemesis
from bench.chaos_outcomes import every_record_has_an_outcome
from bench.chaos_workload import Topics, observe, publish_commands, publish_events
from bench.checker import Invariant, check
from streams.local.merchants import DEMO_MERCHANTS, LocalMerchant, sftp_root, write_merchants_file
from streams.local.reconciliation import read_batch_transmits
from streams.local.stack import LocalStack
from streams.local.traffic import Planned, plan

__all__ = ["main", "report", "run_chaos"]

SETTLE_SECONDS = 60.0
WAIT_FOR_WORK = 6.0  # every other kill waits up to this long for records in flight
REBALANCE_EVERY = 17.5  # mean seconds between the second worker's joins and leaves (0.6×–1.4×)
WORKER_ENV = {
    # /transmit takes no key: a request the client gave up on that Flex still executes is a second
    # transmit. At 1.5 s, on two busy cores, the sandbox read such requests up to seconds after the
    # worker had timed out and retried. 5 s leaves that margin and keeps a hung call short enough
    # for a stopping worker's drain (the product's default is 10 s).
    "FLEXBRIDGE_FLEX__TIMEOUT_SECONDS": "5",
    "FLEXBRIDGE_FLEX__DEADLINE_SECONDS": "120",
    "FLEXBRIDGE_FLEX__BACKOFF_MAX_SECONDS": "1",
    "FLEXBRIDGE_ROUTING__MIT": "sftp",
    "FLEXBRIDGE_SFTP__BACKOFF_MAX_SECONDS": "1",
    "FLEXBRIDGE_BATCH__CLAIM_TIMEOUT_SECONDS": "10",  # a claim left by a killed worker comes back soon
    "FLEXBRIDGE_KAFKA__SESSION_TIMEOUT_MS": "6000",
    "FLEXBRIDGE_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
}


async def _settle(
    stack: LocalStack,
    http: httpx.AsyncClient,
    topics: Topics,
    work: tuple[list[Planned], list[Planned]],
    kills: list[float],
    timeout: float,
    served: Sequence[LocalMerchant],
) -> tuple[list[Invariant], Lifecycle]:
    """Check until every invariant holds (the system caught up) or ``timeout`` passes. ``served``: the
    merchants of the run (none: the single-merchant settings)."""
    planned, commands = work
    deadline = time.monotonic() + timeout
    # where Flex answers each merchant's approvals sent by file
    outbound = {m.mid: sftp_root(stack.state_dir, m) / "outbound" for m in served if m.sftp}
    by_api = _mit_by_api(served)
    while True:
        seen, lifecycle = await observe(stack.bootstrap, http, topics, commands)
        seen.batch_transmits = await asyncio.to_thread(read_batch_transmits, outbound)
        invariants = check(planned, seen, kills) + lifecycle_invariants(planned, seen, lifecycle, by_api)
        if all(i.held for i in invariants) or time.monotonic() > deadline:
            evidence = {"journal": seen.journal, "webhooks": lifecycle.deliveries, "statuses": seen.statuses}
            (stack.workdir / "observed.json").write_bytes(orjson.dumps(evidence))  # for post-mortems
            return invariants, lifecycle
        await asyncio.sleep(1.0)


def _mit_by_api(served: Sequence[LocalMerchant]) -> set[str]:
    """The merchants that send their MIT rebills to ``/v1/evaluate``, not in batch files."""
    return {m.name for m in served if "mit" in m.routes("api")}


def _workload(
    result: ChaosResult, work: tuple[list[Planned], list[Planned]], lc: Lifecycle, by_api: set[str]
) -> None:
    planned, commands = work
    result.workload.update(
        {
            "events": len(planned),
            "of which MIT through SFTP batch files": sum(
                p.kind == "mit-rebill" and p.merchant not in by_api for p in planned
            ),
            "commands (refund, capture, cancel, malformed)": len(commands),
            "batch files the sandbox processed": len(lc.batches),
            "webhooks the sandbox sent": len(lc.deliveries),
            "webhook delivery attempts refused or failed": sum(
                1 for d in lc.deliveries for a in d.get("attempts") or [] if a.get("status") != 200
            ),
        }
    )


def no_crash(crashes: list[str]) -> Invariant:
    return Invariant(
        "no worker crashed: each one ran until stopped, and stopped with exit code 0; "
        "no agent or task crashed in one",
        not crashes,
        f"{len(crashes)} crashed",
        crashes[:5],
    )


@contextlib.contextmanager
def cpu_hog(on: bool) -> Iterator[None]:
    """A busy loop on one core for as long as the block runs (when ``on``)."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        yield
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


async def run_chaos(
    workdir: Path,
    seconds: float,
    events: int,
    kills: int,
    seed: int = 1,
    rebalance_every: float = REBALANCE_EVERY,
    wait_for_work: float = WAIT_FOR_WORK,
    mode: str = "kills",
    flex_faults: bool = True,
    merchants: bool = False,
) -> ChaosResult:
    """``kills``: SIGKILLs of the main worker, or in the ``rolling`` mode restarts of one worker;
    ``merchants``: the demo's three merchants instead of the single-merchant settings."""
    topics = {
        n: f"chaos.{n}" for n in ("approved", "declined", "commands", "status", "webhooks", "dlq", "ledger")
    }
    async with LocalStack(workdir, group="chaos") as stack:
        async with httpx.AsyncClient(timeout=30) as http:
            nemesis = Nemesis(stack, http, seed, rebalance_every, wait_for_work, mode, flex_faults)
            # 12 delivery attempts (~3 min; the default 8 give ~1 min) outlast back-to-back kills
            # and a restarted worker's table recovery.
            served: tuple[LocalMerchant, ...] = DEMO_MERCHANTS if merchants else ()
            path = (
                await asyncio.to_thread(write_merchants_file, workdir / "merchants", served)
                if served
                else None
            )
            await stack.start_full_sandbox(
                nemesis.main_port, 1.0, "--webhook-max-attempts", "12", merchants=path
            )
            http.base_url = httpx.URL(stack.sandbox_root)
            stack.env.update({f"FLEXBRIDGE_TOPICS__{k.upper()}": v for k, v in topics.items()})
            stack.env.update(WORKER_ENV)
            await nemesis.start()
            planned = plan(events, seed=seed, merchants=[(m.name, m.mid) for m in served])
            started = time.monotonic()
            until = started + seconds
            _, commands, _ = await asyncio.gather(
                publish_events(stack.bootstrap, planned, topics, until),
                publish_commands(stack.bootstrap, http, planned, topics, started, until),
                nemesis.run(until, kills),
            )
            result = nemesis.result
            work = (planned, commands)
            settle = SETTLE_SECONDS + seconds  # webhook retries and batch results catch up after the window
            result.invariants, lifecycle = await _settle(
                stack, http, topics, work, result.kills, settle, served
            )
            result.invariants.append(await every_record_has_an_outcome(stack, topics, 30.0))
            result.invariants.append(no_crash(nemesis.crashed()))
            _workload(result, work, lifecycle, _mit_by_api(served))
            result.workload["order table recoveries a worker started again"] = nemesis.recovery_restarts()
    return result


def report(result: ChaosResult) -> Table:
    table = Table(title="flexbridge chaos run: " + ("ALL INVARIANTS HELD" if result.ok else "VIOLATIONS"))
    table.add_column("")
    table.add_column("what")
    table.add_column("result", justify="right")
    for name, count in result.workload.items():
        table.add_row("workload", name, f"{count:,}")
    for name, count in sorted(result.faults.items()):
        table.add_row("fault", name, f"{count}×")
    for inv in result.invariants:
        table.add_row(
            "invariant",
            f"{inv.name}\n[dim]{inv.detail}[/dim]",
            "[green]held[/green]" if inv.held else "[red]VIOLATED[/red]",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--mode", choices=MODES, default="kills", help="kills, rebalance or rolling")
    parser.add_argument("--kills", type=int, default=12, help="SIGKILLs, or restarts in the rolling mode")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rebalance-every", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--wait-for-work", type=float, default=WAIT_FOR_WORK, metavar="SECONDS")
    parser.add_argument("--cpu-hog", action="store_true", help="a busy loop on one core beside the run")
    parser.add_argument(
        "--merchants", action="store_true", help="three merchants, as a payment processor runs"
    )
    parser.add_argument("--workdir", default=".chaos")
    args = parser.parse_args(argv)
    every = args.rebalance_every or (HEAVY_REBALANCE_EVERY if args.mode == "rebalance" else REBALANCE_EVERY)
    console = Console()
    with (
        console.status(f"chaos run ({args.mode}): workload, faults, kills and rebalances…"),
        cpu_hog(args.cpu_hog),
    ):
        run = run_chaos(
            Path(args.workdir),
            args.seconds,
            args.events,
            args.kills,
            args.seed,
            every,
            args.wait_for_work,
            args.mode,
            merchants=args.merchants,
        )
        result = asyncio.run(run)
    console.print(report(result))
    for inv in result.invariants:
        for line in inv.examples:
            console.print(f"  [red]{inv.name}: {line}[/red]")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
