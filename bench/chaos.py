"""``make chaos``: a steady mixed workload through the flows while a nemesis injects faults, then a
checker proves nothing was lost or applied twice. Exit code 1 on any violated invariant.

Nemesis: the sandbox answers 5xx, 429 with Retry-After, hangs past the client timeout, drops
connections and loses answers after the effect; the main worker is SIGKILLed at random moments
(with records in flight) and restarted; a second worker joins and leaves to force rebalances.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from bench.checker import Invariant, check
from streams.local_stack import LocalStack, RunningWorker, metric_total
from streams.reconcile import Observed, read_observed
from streams.traffic import Planned, plan

__all__ = ["ChaosResult", "run_chaos"]

PROFILES: dict[str, dict[str, object]] = {
    "5xx": {"rate": 0.2, "statuses": [500, 502, 503]},
    "429 + Retry-After": {"rate": 0.2, "statuses": [429], "retryAfterSeconds": 1},
    "timeouts": {"timeoutRate": 0.05, "timeoutSeconds": 3},
    "dropped connections": {"dropRate": 0.1},
    "answers lost after the effect": {"afterEffectRate": 0.1},
}
WORKER_ENV = {
    "FLEXBRIDGE_FLEX__TIMEOUT_SECONDS": "1.5",
    "FLEXBRIDGE_FLEX__DEADLINE_SECONDS": "120",
    "FLEXBRIDGE_FLEX__BACKOFF_MAX_SECONDS": "1",
    "FLEXBRIDGE_ROUTING__MIT": "api",
    "FLEXBRIDGE_KAFKA__SESSION_TIMEOUT_MS": "6000",
    "FLEXBRIDGE_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
}


@dataclass
class ChaosResult:
    faults: Counter[str] = field(default_factory=Counter)
    invariants: list[Invariant] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.invariants) and all(i.held for i in self.invariants)


class Nemesis:
    def __init__(self, stack: LocalStack, http: httpx.AsyncClient, seed: int) -> None:
        self.stack, self.http, self.rng = stack, http, random.Random(seed)
        self.result = ChaosResult()
        self.main: RunningWorker | None = None
        self.second: RunningWorker | None = None

    async def start(self) -> None:
        self.main = await self.stack.start_worker("main")

    async def kill_main(self) -> None:
        assert self.main is not None
        in_flight = await metric_total(self.main.url, "flexbridge_in_flight")
        await asyncio.to_thread(self.main.child.kill)
        self.result.kills.append(time.time())
        self.result.faults["worker SIGKILLed" + (" with records in flight" if in_flight else "")] += 1
        self.main = await self.stack.start_worker("main")

    async def toggle_second(self) -> None:
        if self.second is None:
            self.second = await self.stack.start_worker("second")
            self.result.faults["second worker joined (rebalance)"] += 1
        else:
            await asyncio.to_thread(self.second.child.stop)
            self.second = None
            self.result.faults["second worker left (rebalance)"] += 1

    async def flex_faults(self) -> None:
        name = self.rng.choice(list(PROFILES))
        body = {
            **PROFILES[name],
            "paths": ["/v1/evaluate", "/v1/transmit"],
            "seed": self.rng.randrange(1 << 30),
        }
        (await self.http.post("_sandbox/faults", json=body)).raise_for_status()
        self.result.faults[f"Flex: {name}"] += 1

    async def run(self, until: float, kills: int) -> None:
        kill_every = max(1.0, (until - time.monotonic()) / (kills + 1))
        next_kill = time.monotonic() + kill_every * self.rng.uniform(0.5, 1.0)
        while time.monotonic() < until:
            await self.flex_faults()
            if time.monotonic() >= next_kill:
                await self.kill_main()
                next_kill = time.monotonic() + kill_every * self.rng.uniform(0.5, 1.0)
            elif self.rng.random() < 0.3:
                await self.toggle_second()
            await asyncio.sleep(self.rng.uniform(0.5, 1.5))
        while len(self.result.kills) < kills:  # a short run still gets every kill it promised
            await self.kill_main()
        if self.second is not None:
            await self.toggle_second()
        await self.http.delete("_sandbox/faults")


async def _publish(stack: LocalStack, planned: list[Planned], topics: dict[str, str], until: float) -> None:
    """A steady rate: the events spread over the run, through one producer."""
    per_tick = max(1, len(planned) // max(1, int((until - time.monotonic()) * 4)))
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=5)
    await producer.start()
    try:
        for start in range(0, len(planned), per_tick):
            sent = [
                await producer.send(topics[p.topic], p.value, p.key.encode())
                for p in planned[start : start + per_tick]
            ]
            await asyncio.gather(*sent)
            await asyncio.sleep(0.25)
    finally:
        await producer.stop()


async def _observe(stack: LocalStack, http: httpx.AsyncClient, topics: dict[str, str]) -> Observed:
    journal = (await http.get("_sandbox/requests")).json()["requests"]
    return await read_observed(stack.bootstrap, topics["status"], topics["dlq"], journal)


async def _settle(
    stack: LocalStack,
    http: httpx.AsyncClient,
    planned: list[Planned],
    topics: dict[str, str],
    kills: list[float],
    timeout: float,
) -> list[Invariant]:
    deadline = time.monotonic() + timeout
    while True:
        invariants = check(planned, await _observe(stack, http, topics), kills)
        if invariants[0].held or time.monotonic() > deadline:
            return invariants
        await asyncio.sleep(1.0)


async def run_chaos(workdir: Path, seconds: float, events: int, kills: int, seed: int = 1) -> ChaosResult:
    topics = {
        n: f"chaos.{n}" for n in ("approved", "declined", "commands", "status", "webhooks", "dlq", "ledger")
    }
    async with LocalStack(workdir, group="chaos") as stack:
        await stack.start_sandbox()
        stack.env.update({f"FLEXBRIDGE_TOPICS__{k.upper()}": v for k, v in topics.items()})
        stack.env.update(WORKER_ENV)
        async with httpx.AsyncClient(base_url=stack.sandbox_root, timeout=30) as http:
            nemesis = Nemesis(stack, http, seed)
            await nemesis.start()
            planned = plan(events, seed=seed)
            until = time.monotonic() + seconds
            await asyncio.gather(_publish(stack, planned, topics, until), nemesis.run(until, kills))
            result = nemesis.result
            result.invariants = await _settle(stack, http, planned, topics, result.kills, timeout=180)
    return result


def report(result: ChaosResult) -> Table:
    table = Table(title="flexbridge chaos run: " + ("ALL INVARIANTS HELD" if result.ok else "VIOLATIONS"))
    table.add_column("")
    table.add_column("what")
    table.add_column("result", justify="right")
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
    parser.add_argument("--workdir", default=".chaos")
    args = parser.parse_args(argv)
    console = Console()
    with console.status("chaos run: workload, faults, kills and rebalances…"):
        result = asyncio.run(run_chaos(Path(args.workdir), args.seconds, args.events, args.kills, args.seed))
    console.print(report(result))
    for inv in result.invariants:
        for line in inv.examples:
            console.print(f"  [red]{inv.name}: {line}[/red]")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
