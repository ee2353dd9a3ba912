"""What every benchmark needs: figures with targets, percentiles, producing, a Flex token, metrics."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from streams.local.stack import DEV_KEY, DEV_SECRET

__all__ = [
    "Figure",
    "cpu_time",
    "flex_token",
    "percentile",
    "produce_all",
    "ratio",
    "rss_mb",
    "until",
]


@dataclass
class Figure:
    """One measured figure; ``target`` is met when ``value`` is at least it (or at most, if ``at_most``).

    Every figure with a target measures something that cannot be below zero (a rate, a ratio, a
    latency, CPU, memory, a count), unless it is ``signed`` (a change, such as a peak's growth): a
    negative value of an unsigned figure, or NaN (a missing one), means the measurement itself
    failed, and is a MISS whatever the target."""

    flow: str
    name: str
    value: float
    unit: str
    target: float | None = None
    at_most: bool = False
    note: str = ""
    signed: bool = False

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if not math.isfinite(self.value) or (self.value < 0 and not self.signed):
            return "MISS"
        met = self.value <= self.target if self.at_most else self.value >= self.target
        return "PASS" if met else "MISS"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def percentile(values: list[float], q: float) -> float:
    """The ``q`` (0-100) percentile by nearest rank: the smallest value with at least ``q`` % of the
    values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def ratio(value: float, baseline: float) -> float:
    """``value / baseline``; NaN (a MISS against any target) when the baseline is not positive."""
    if not baseline > 0:
        return float("nan")
    return value / baseline


async def produce_all(bootstrap: str, topic: str, items: Iterable[tuple[bytes, bytes]]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    count = 0
    try:
        pending = []
        for key, value in items:
            pending.append(await producer.send(topic, value, key))
            count += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count


async def flex_token(http: httpx.AsyncClient) -> str:
    """A bearer token from the sandbox, the way a naive client would get one."""
    key = os.environ.get("FLEXBRIDGE_FLEX__APP_KEY", DEV_KEY)
    secret = os.environ.get("FLEXBRIDGE_FLEX__APP_SECRET", DEV_SECRET)
    answer = await http.post("oauth2/token", json={"AppKey": key, "AppSecret": secret})
    answer.raise_for_status()
    token: str = answer.json()["accessToken"]
    return token


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 0.1) -> float:
    """Poll ``check`` until true; the monotonic time it first was. Raises TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return time.monotonic()
        await asyncio.sleep(every)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


def cpu_time(pid: int) -> float:
    """A process's CPU time so far (user + system, all threads) in seconds, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident set (``VmRSS``) or its peak (``VmHWM``) in MB, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")
