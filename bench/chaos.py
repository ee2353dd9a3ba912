"""``make chaos``: a steady mixed workload through every flow while a nemesis injects faults, then a
checker proves nothing was lost or applied twice. Exit code 1 on any violated invariant.

Workload: approvals, CIT declines, managed-MIT rebills through SFTP batch files, malformed events;
the sandbox's webhooks for every order change (to the main worker, with retries); two rounds of
refunds, captures and cancels on the commands topic.

Nemesis: the sandbox answers 5xx, 429 with Retry-After, hangs past the client timeout, drops
connections and loses answers after the effect; its SFTP server drops sessions mid-upload; the main
worker is SIGKILLed on a schedule spread over the workload window (whatever it is doing: records in
flight, or still starting and recovering its tables after the last kill) and restarted on the same
port without waiting for it; a second worker joins and leaves to force rebalances. Webhooks go to
the main worker only (one endpoint), so two workers never receive the same delivery at once (a
documented limit of the receiver's deduplication, README "Webhooks").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from bench.chaos_checks import Lifecycle, lifecycle_invariants
from bench.chaos_workload import Topics, observe, publish_commands, publish_events
from bench.checker import Invariant, check
from streams.local.procs import free_port
from streams.local.stack import LocalStack, RunningWorker, metric_total
from streams.local.traffic import Planned, plan

__all__ = ["PROFILES", "ChaosResult", "Nemesis", "kill_schedule", "run_chaos"]

PROFILES: dict[str, dict[str, object]] = {
    "5xx": {"rate": 0.2, "statuses": [500, 502, 503]},
    "429 + Retry-After": {"rate": 0.2, "statuses": [429], "retryAfterSeconds": 1},
    "timeouts": {"timeoutRate": 0.05, "timeoutSeconds": 3},
    "dropped connections": {"dropRate": 0.1},
    "answers lost after the effect": {"afterEffectRate": 0.1},
}
SETTLE_SECONDS = 60.0
WAIT_FOR_WORK = 6.0  # every other kill waits up to this long for records in flight
REBALANCE_EVERY = 17.5  # mean seconds between the second worker's joins and leaves (0.6×–1.4×)
FAULT_PATHS = ["/v1/evaluate", "/v1/transmit", "/v1/capture", "/v1/orders/*/refund", "/v1/orders/*/cancel"]
WORKER_ENV = {
    "FLEXBRIDGE_FLEX__TIMEOUT_SECONDS": "1.5",
    "FLEXBRIDGE_FLEX__DEADLINE_SECONDS": "120",
    "FLEXBRIDGE_FLEX__BACKOFF_MAX_SECONDS": "1",
    "FLEXBRIDGE_ROUTING__MIT": "sftp",
    "FLEXBRIDGE_SFTP__BACKOFF_MAX_SECONDS": "1",
    "FLEXBRIDGE_BATCH__CLAIM_TIMEOUT_SECONDS": "10",  # a claim left by a killed worker comes back soon
    "FLEXBRIDGE_KAFKA__SESSION_TIMEOUT_MS": "6000",
    "FLEXBRIDGE_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
}


def kill_schedule(rng: random.Random, started: float, until: float, kills: int) -> list[float]:
    """``kills`` moments spread evenly over the window, each jittered by ±40 % of the spacing: in
    order, at least a fifth of the spacing apart, all inside the window."""
    step = (until - started) / (kills + 1)
    return [started + step * (i + rng.uniform(-0.4, 0.4)) for i in range(1, kills + 1)]


@dataclass
class ChaosResult:
    faults: Counter[str] = field(default_factory=Counter)
    invariants: list[Invariant] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)
    workload: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.invariants) and all(i.held for i in self.invariants)


class Nemesis:
    def __init__(
        self,
        stack: LocalStack,
        http: httpx.AsyncClient,
        seed: int,
        rebalance_every: float,
        wait_for_work: float,
    ) -> None:
        self.stack, self.http, self.rng = stack, http, random.Random(seed)
        self.rebalance_every, self.wait_for_work = rebalance_every, wait_for_work
        self.result = ChaosResult()
        self.main_port = free_port()  # the sandbox's webhook URL points here, across restarts
        self.main: RunningWorker | None = None
        self.second: RunningWorker | None = None
        self._stopping: list[asyncio.Task[int]] = []

    async def start(self) -> None:
        self.main = await self.stack.start_worker("main", port=self.main_port)

    async def kill_main(self, wait_for_work: float = 0.0) -> None:
        """SIGKILL the main worker on schedule, whatever it is doing (in flight, or still recovering
        after the last kill), and start it again on the same port without waiting for it. With
        ``wait_for_work``, first give it up to that many seconds to have records in flight, so the
        kill lands between a Flex call and its commit."""
        assert self.main is not None
        deadline = time.monotonic() + wait_for_work
        state = await self._main_state()
        while state != "with records in flight" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            state = await self._main_state()
        await asyncio.to_thread(self.main.child.kill)
        self.result.kills.append(time.time())
        self.result.faults[f"worker SIGKILLed {state}"] += 1
        self.main = self.stack.spawn_worker("main", port=self.main_port)

    async def _main_state(self) -> str:
        assert self.main is not None
        try:
            ready = (await self.http.get(self.main.url + "/ready", timeout=2)).status_code == 200
            in_flight = await metric_total(self.main.url, "flexbridge_in_flight") if ready else 0.0
        except httpx.HTTPError:
            ready, in_flight = False, 0.0
        if not ready:
            return "while starting or recovering"
        return "with records in flight" if in_flight else "while idle"

    async def toggle_second(self) -> None:
        """The second worker joins (not waited for) or leaves (SIGTERM, stopped in the background)."""
        if self.second is None:
            self.second = self.stack.spawn_worker("second")
            self.result.faults["second worker joined (rebalance)"] += 1
        else:
            self._stopping.append(asyncio.create_task(asyncio.to_thread(self.second.child.stop)))
            self.second = None
            self.result.faults["second worker left (rebalance)"] += 1

    async def flex_faults(self) -> None:
        name = self.rng.choice(list(PROFILES))
        body = {**PROFILES[name], "paths": FAULT_PATHS, "seed": self.rng.randrange(1 << 30)}
        (await self.http.post("_sandbox/faults", json=body)).raise_for_status()
        self.result.faults[f"Flex: {name}"] += 1

    async def _count_sftp_drops(self) -> None:
        """Add the drops of the SFTP fault in force (a new setting restarts the sandbox's count)."""
        dropped = (await self.http.get("_sandbox/sftp/faults")).json().get("dropped") or 0
        self.result.faults["SFTP: session dropped mid-upload"] += int(dropped)

    async def sftp_drop(self) -> None:
        """Cut the next SFTP session that writes past a random point (an upload dropped midway)."""
        await self._count_sftp_drops()
        body = {"dropAfterBytes": self.rng.randrange(256, 4096), "times": 1}
        (await self.http.post("_sandbox/sftp/faults", json=body)).raise_for_status()

    async def run(self, until: float, kills: int) -> None:
        kill_at = kill_schedule(self.rng, time.monotonic(), until, kills)
        next_toggle = self._next_toggle()
        await self.sftp_drop()
        while time.monotonic() < until or kill_at:
            await self.flex_faults()
            if self.rng.random() < 0.3:
                await self.sftp_drop()
            if kill_at and time.monotonic() >= kill_at[0]:
                kill_at.pop(0)
                await self.kill_main(self.wait_for_work if len(kill_at) % 2 else 0.0)
            elif time.monotonic() >= next_toggle:
                await self.toggle_second()
                next_toggle = self._next_toggle()
            await asyncio.sleep(self.rng.uniform(0.5, 1.5))
        await self.calm()

    def _next_toggle(self) -> float:
        return time.monotonic() + self.rebalance_every * self.rng.uniform(0.6, 1.4)

    async def calm(self) -> None:
        """End of the window: no more faults; the second worker leaves, the main one gets ready."""
        if self.second is not None:
            await self.toggle_second()
        await asyncio.gather(*self._stopping)
        await self.http.delete("_sandbox/faults")
        await self._count_sftp_drops()
        await self.http.delete("_sandbox/sftp/faults")
        assert self.main is not None
        with contextlib.suppress(RuntimeError):  # not ready: the checker says what that cost
            await asyncio.to_thread(self.main.child.wait_ready, self.main.url + "/ready", 120)


async def _settle(
    stack: LocalStack,
    http: httpx.AsyncClient,
    topics: Topics,
    work: tuple[list[Planned], list[Planned]],
    kills: list[float],
    timeout: float,
) -> tuple[list[Invariant], Lifecycle]:
    """Check until every invariant holds (the system caught up) or ``timeout`` passes."""
    planned, commands = work
    deadline = time.monotonic() + timeout
    while True:
        seen, lifecycle = await observe(stack.bootstrap, http, topics, commands)
        invariants = check(planned, seen, kills) + lifecycle_invariants(planned, seen, lifecycle)
        if all(i.held for i in invariants) or time.monotonic() > deadline:
            return invariants, lifecycle
        await asyncio.sleep(1.0)


def _workload(result: ChaosResult, work: tuple[list[Planned], list[Planned]], lc: Lifecycle) -> None:
    planned, commands = work
    result.workload.update(
        {
            "events": len(planned),
            "of which MIT through SFTP batch files": sum(p.kind == "mit-rebill" for p in planned),
            "commands (refund, capture, cancel, malformed)": len(commands),
            "batch files the sandbox processed": len(lc.batches),
            "webhooks the sandbox sent": len(lc.deliveries),
            "webhook delivery attempts refused or failed": sum(
                1 for d in lc.deliveries for a in d.get("attempts") or [] if a.get("status") != 200
            ),
        }
    )


async def run_chaos(
    workdir: Path,
    seconds: float,
    events: int,
    kills: int,
    seed: int = 1,
    rebalance_every: float = REBALANCE_EVERY,
    wait_for_work: float = WAIT_FOR_WORK,
) -> ChaosResult:
    topics = {
        n: f"chaos.{n}" for n in ("approved", "declined", "commands", "status", "webhooks", "dlq", "ledger")
    }
    async with LocalStack(workdir, group="chaos") as stack:
        async with httpx.AsyncClient(timeout=30) as http:
            nemesis = Nemesis(stack, http, seed, rebalance_every, wait_for_work)
            # 12 delivery attempts (~3 min; the default 8 give ~1 min) outlast back-to-back kills
            # and a restarted worker's table recovery.
            await stack.start_full_sandbox(nemesis.main_port, 1.0, "--webhook-max-attempts", "12")
            http.base_url = httpx.URL(stack.sandbox_root)
            stack.env.update({f"FLEXBRIDGE_TOPICS__{k.upper()}": v for k, v in topics.items()})
            stack.env.update(WORKER_ENV)
            await nemesis.start()
            planned = plan(events, seed=seed)
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
            result.invariants, lifecycle = await _settle(stack, http, topics, work, result.kills, settle)
            _workload(result, work, lifecycle)
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
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rebalance-every", type=float, default=REBALANCE_EVERY, metavar="SECONDS")
    parser.add_argument("--wait-for-work", type=float, default=WAIT_FOR_WORK, metavar="SECONDS")
    parser.add_argument("--workdir", default=".chaos")
    args = parser.parse_args(argv)
    console = Console()
    with console.status("chaos run: workload, faults, kills and rebalances…"):
        run = run_chaos(
            Path(args.workdir),
            args.seconds,
            args.events,
            args.kills,
            args.seed,
            args.rebalance_every,
            args.wait_for_work,
        )
        result = asyncio.run(run)
    console.print(report(result))
    for inv in result.invariants:
        for line in inv.examples:
            console.print(f"  [red]{inv.name}: {line}[/red]")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
