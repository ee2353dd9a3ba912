"""The chaos run's nemesis: Flex faults from the sandbox, SFTP sessions cut mid-upload, and one of
three ways to upset the consumer groups (:data:`MODES`):

* ``kills``: the main worker SIGKILLed on a schedule and restarted on the same port, a second worker
  joining and leaving to force rebalances;
* ``rebalance``: the same, with the second worker joining or leaving every ~4 s;
* ``rolling``: three workers, restarted one at a time as a deploy does it (SIGTERM, wait for the exit,
  start the replacement, wait until it is ready), no SIGKILL.

It counts every fault it injects in a :class:`ChaosResult`, and watches every worker it started:
one that exits when it was not stopped, or stops with an exit code other than 0, is a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench.checker import Invariant
from streams.local.procs import free_port
from streams.local.stack import LocalStack, RunningWorker, metric_total

__all__ = ["FAULT_PATHS", "MODES", "PROFILES", "ChaosResult", "Nemesis", "kill_schedule"]

MODES = ("kills", "rebalance", "rolling")
HEAVY_REBALANCE_EVERY = (
    4.0  # the ``rebalance`` mode: mean seconds between the second worker's joins and leaves
)

PROFILES: dict[str, dict[str, object]] = {
    "5xx": {"rate": 0.2, "statuses": [500, 502, 503]},
    "429 + Retry-After": {"rate": 0.2, "statuses": [429], "retryAfterSeconds": 1},
    "timeouts": {"timeoutRate": 0.05, "timeoutSeconds": 6},  # past the workers' 5 s timeout
    "dropped connections": {"dropRate": 0.1},
    "answers lost after the effect": {"afterEffectRate": 0.1},
}
FAULT_PATHS = ["/v1/evaluate", "/v1/transmit", "/v1/capture", "/v1/orders/*/refund", "/v1/orders/*/cancel"]


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
    crashes: list[str] = field(default_factory=list)  # workers that exited unasked, or stopped with code != 0

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
        mode: str = "kills",
        flex_faults: bool = True,
    ) -> None:
        self.stack, self.http, self.rng = stack, http, random.Random(seed)
        self.rebalance_every, self.wait_for_work = rebalance_every, wait_for_work
        self.mode, self.inject = mode, flex_faults
        self.result = ChaosResult()
        self.main_port = free_port()  # the sandbox's webhook URL points here, across restarts
        self.main: RunningWorker | None = None
        self.second: RunningWorker | None = None
        self.fleet: list[RunningWorker] = []  # the rolling mode's workers, the main one first
        self._stopping: list[asyncio.Task[int]] = []
        self._started: list[RunningWorker] = []
        self._asked: set[int] = set()  # pids of the workers the nemesis stopped or killed

    def _spawn(self, name: str, port: int | None = None) -> RunningWorker:
        worker = self.stack.spawn_worker(name, port=port)
        self._started.append(worker)
        return worker

    async def _ready(self, worker: RunningWorker, timeout: float = 120) -> None:
        await asyncio.to_thread(worker.child.wait_ready, worker.url + "/ready", timeout)

    async def start(self) -> None:
        self.main = self._spawn("main", self.main_port)
        await self._ready(self.main, 60)
        if self.mode == "rolling":
            self.fleet = [self.main, self._spawn("rolling"), self._spawn("rolling")]
            await asyncio.gather(*(self._ready(w) for w in self.fleet[1:]))

    async def _stop(self, worker: RunningWorker) -> int:
        """SIGTERM and wait for the exit; a code other than 0 is a crash."""
        self._asked.add(worker.child.proc.pid)
        code = await asyncio.to_thread(worker.child.stop)
        if code != 0:
            self.result.crashes.append(f"{worker.child.log_path.name} stopped with exit code {code}")
        return code

    def crashed(self) -> list[str]:
        """Every worker that exited when it was not asked to, every bad stop, and every agent or task
        that crashed inside a worker (``Child.crash_lines``)."""
        out = list(self.result.crashes)
        for worker in self._started:
            code = worker.child.proc.poll()
            name = worker.child.log_path.name
            if code is not None and worker.child.proc.pid not in self._asked:
                out.append(f"{name} exited by itself with code {code}")
            out += worker.child.crash_lines()
        return out

    def recovery_restarts(self) -> int:
        """Order table recoveries the workers started again after no progress (faust_recovery.py)."""
        logs = (w.child.output() for w in self._started)
        return sum(log.count("order table recovery:") for log in logs)

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
        self._asked.add(self.main.child.proc.pid)
        await asyncio.to_thread(self.main.child.kill)
        self.result.kills.append(time.time())
        self.result.faults[f"worker SIGKILLed {state}"] += 1
        self.main = self._spawn("main", self.main_port)

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
            self.second = self._spawn("second")
            self.result.faults["second worker joined (rebalance)"] += 1
        else:
            self._stopping.append(asyncio.create_task(self._stop(self.second)))
            self.second = None
            self.result.faults["second worker left (rebalance)"] += 1

    async def restart_next(self, turn: int) -> None:
        """The rolling mode's step: SIGTERM one worker of three (in turn), wait for it to exit, start
        its replacement (the main one on its port) and wait until it is ready."""
        index = turn % len(self.fleet)
        old = self.fleet[index]
        await self._stop(old)
        new = self._spawn("main" if index == 0 else "rolling", old.port if index == 0 else None)
        self.fleet[index] = new
        if index == 0:
            self.main = new
        with contextlib.suppress(RuntimeError):  # not ready in time, or crashed: the checker says so
            await self._ready(new)
        self.result.faults["worker restarted (SIGTERM, replaced, ready)"] += 1

    async def flex_faults(self) -> None:
        if not self.inject:
            return
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
        if not self.inject:
            return
        await self._count_sftp_drops()
        body = {"dropAfterBytes": self.rng.randrange(256, 4096), "times": 1}
        (await self.http.post("_sandbox/sftp/faults", json=body)).raise_for_status()

    async def run(self, until: float, kills: int) -> None:
        """``kills``: SIGKILLs of the main worker, or in the rolling mode restarts (SIGTERM)."""
        kill_at = kill_schedule(self.rng, time.monotonic(), until, kills)
        next_toggle = self._next_toggle()
        await self.sftp_drop()
        turn = 0
        while time.monotonic() < until or kill_at:
            await self.flex_faults()
            if self.rng.random() < 0.3:
                await self.sftp_drop()
            if kill_at and time.monotonic() >= kill_at[0]:
                kill_at.pop(0)
                if self.mode == "rolling":
                    await self.restart_next(turn)
                    turn += 1
                else:
                    await self.kill_main(self.wait_for_work if len(kill_at) % 2 else 0.0)
            elif self.mode != "rolling" and time.monotonic() >= next_toggle:
                await self.toggle_second()
                next_toggle = self._next_toggle()
            await asyncio.sleep(self.rng.uniform(0.5, 1.5))
        await self.calm()

    def _next_toggle(self) -> float:
        return time.monotonic() + self.rebalance_every * self.rng.uniform(0.6, 1.4)

    async def calm(self) -> None:
        """End of the window: no more faults; the second worker leaves, the main one gets ready."""
        if self.second is not None:
            # a second worker that joined just before the end is still starting: let it start, then
            # leave, so that the run ends with the group as it began
            with contextlib.suppress(RuntimeError):  # not ready in time, or crashed: the checker says so
                await self._ready(self.second, 60)
            await self.toggle_second()
        await asyncio.gather(*self._stopping)
        if self.inject:
            await self.http.delete("_sandbox/faults")
            await self._count_sftp_drops()
            await self.http.delete("_sandbox/sftp/faults")
        assert self.main is not None
        with contextlib.suppress(RuntimeError):  # not ready: the checker says what that cost
            await self._ready(self.main)
