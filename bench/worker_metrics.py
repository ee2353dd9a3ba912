"""A worker's own Prometheus histograms over one stretch of a benchmark run, read as an operator's
dashboard reads them: bucket counts from ``/metrics`` before and after, and Prometheus's
``histogram_quantile`` over the difference (linear within a bucket, so as coarse as the buckets).
The evaluate benchmark reports them beside its own end-to-end times: the worker's view of a
decline's end to end, and how late its event loop ran while the declines flowed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.common import Figure

__all__ = [
    "Buckets",
    "Snapshot",
    "WorkerView",
    "over",
    "own_figures",
    "parse_buckets",
    "quantile",
    "snapshot",
]

Buckets = dict[float, float]  # upper bound (le) → observations at most that, cumulative


def parse_buckets(text: str, name: str, **labels: str) -> Buckets:
    """The cumulative bucket counts of the histogram ``name`` in a scrape's ``text`` (its series with
    ``labels``, summed)."""
    found: Buckets = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != name + "_bucket" or any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            bound = float(sample.labels["le"])
            found[bound] = found.get(bound, 0.0) + sample.value
    return found


def _between(before: Buckets, after: Buckets) -> list[tuple[float, float]]:
    return [(bound, after[bound] - before.get(bound, 0.0)) for bound in sorted(after)]


def quantile(q: float, before: Buckets, after: Buckets) -> float:
    """``histogram_quantile(q, …)`` of the observations made between the two readings (NaN: none);
    one in the +Inf bucket answers the largest finite bound, as Prometheus does."""
    counts = _between(before, after)
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in counts:
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return math.nan


def over(bound: float, before: Buckets, after: Buckets) -> float:
    """How many observations between the two readings were above ``bound`` (one of the buckets')."""
    counts = dict(_between(before, after))
    return counts[math.inf] - counts[bound]


class Snapshot(NamedTuple):
    """The worker's end-to-end histogram of declines and its event loop's lag histogram."""

    e2e: Buckets
    lag: Buckets


async def snapshot(url: str) -> Snapshot:
    """Both histograms now, from one scrape of the worker's ``/metrics``."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(url + "/metrics")).text
    e2e = parse_buckets(text, "flexbridge_end_to_end_seconds", flow="evaluate")
    return Snapshot(e2e, parse_buckets(text, "flexbridge_event_loop_lag_seconds"))


@dataclass
class WorkerView:
    """What the worker's own histograms showed between two snapshots: its end-to-end p99 of declines
    and its event loop's lag p99, in ms, and how many of the loop's wake-ups were over 25 ms late."""

    e2e_p99: float
    lag_p99: float
    late_wakeups: float

    @classmethod
    async def since(cls, url: str, before: Snapshot) -> WorkerView:
        now = await snapshot(url)
        return cls(
            quantile(0.99, before.e2e, now.e2e) * 1000,
            quantile(0.99, before.lag, now.lag) * 1000,
            over(0.025, before.lag, now.lag),
        )


def own_figures(rate: int, own: WorkerView | None) -> list[Figure]:
    """The evaluate benchmark's figures of ``own`` at the load point ``rate`` (none: not read)."""
    if own is None:
        return []
    bucketed = "the worker's own histogram, as its dashboard shows it (linear within a bucket)"
    late = f"worker event loop wake-ups over 25 ms late at {rate}/s"
    return [
        Figure("evaluate", f"worker's own end to end p99 at {rate}/s", own.e2e_p99, "ms", note=bucketed),
        Figure("evaluate", f"worker event loop lag p99 at {rate}/s", own.lag_p99, "ms", note=bucketed),
        Figure("evaluate", late, own.late_wakeups, "wake-ups"),
    ]
