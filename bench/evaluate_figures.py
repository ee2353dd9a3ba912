"""The evaluate benchmark's figures from its measured times (pure: bench/evaluate.py measures).

Added time is taken event by event: each event's end-to-end time minus its own /evaluate call's
service time in the sandbox's journal (found by the call's idempotency key), then its percentiles."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bench import targets
from bench.common import Figure, percentile
from bench.worker_metrics import WorkerView, own_figures
from consumers.keys import event_key

__all__ = ["PERCENTILES", "LoadPoint", "drift_figures", "latency_figures", "per_request"]

PERCENTILES = (50, 90, 99)


@dataclass
class LoadPoint:
    """One load point's times in ms: end to end and the sandbox's service time of the same events,
    their per-event differences (added), the bare client's calls, the bare relay's end to end, and
    how many events had no sandbox time in the journal; the worker's and the relay's CPU in ms per
    decline over their runs, and the broker's over each (NaN: not measured). ``added`` and ``relay``
    are in send order."""

    rate: int
    e2e: list[float]
    sandbox: list[float]
    added: list[float]
    bare: list[float]
    relay: list[float]
    missing: int = 0
    note: str = ""
    worker_cpu: float = math.nan
    relay_cpu: float = math.nan
    broker_cpu: float = math.nan
    relay_broker_cpu: float = math.nan
    own: WorkerView | None = None


def per_request(
    rate: int,
    e2e: dict[str, float],
    service: dict[str, float],
    bare: list[float],
    relay: Iterable[float] = (),
    note: str = "",
) -> LoadPoint:
    """Pair each event's end-to-end seconds (by eventId) with its /evaluate call's service time (ms,
    by idempotency key): added = end to end − that call's time, event by event. ``bare`` and
    ``relay``: the baselines' seconds."""
    point = LoadPoint(rate, [], [], [], [s * 1000 for s in bare], [s * 1000 for s in relay], note=note)
    for event_id, seconds in e2e.items():
        point.e2e.append(seconds * 1000)
        sandbox = service.get(event_key(event_id))
        if sandbox is None:
            point.missing += 1
            continue
        point.sandbox.append(sandbox)
        point.added.append(seconds * 1000 - sandbox)
    return point


def latency_figures(point: LoadPoint) -> list[Figure]:
    """End to end, the sandbox's service time of the same calls (and the bare client's), and added at
    each percentile, in ms; the added p99 carries the load point's target, if any. Events without a
    sandbox time are counted (target: none), never left out silently."""
    rate = point.rate
    figures: list[Figure] = []
    added: list[Figure] = []
    for q in PERCENTILES:
        figures += [
            Figure("evaluate", f"end to end p{q} at {rate}/s", percentile(point.e2e, q), "ms"),
            Figure(
                "evaluate", f"sandbox service p{q} at {rate}/s (journal)", percentile(point.sandbox, q), "ms"
            ),
            Figure(
                "evaluate", f"sandbox service p{q} at {rate}/s (bare httpx)", percentile(point.bare, q), "ms"
            ),
            Figure("evaluate", f"bare Kafka relay p{q} at {rate}/s", percentile(point.relay, q), "ms"),
        ]
        added.append(Figure("evaluate", f"added p{q} at {rate}/s", percentile(point.added, q), "ms"))
    added[-1].target, added[-1].at_most = targets.EVALUATE_ADDED_P99_MS.get(rate), True
    figures[0].note = point.note
    missing = Figure("evaluate", f"events without a sandbox time at {rate}/s", point.missing, "events")
    missing.target, missing.at_most = 0, True
    cpu = [
        Figure("evaluate", f"worker CPU per decline at {rate}/s", point.worker_cpu, "ms CPU"),
        Figure("evaluate", f"bare Kafka relay CPU per decline at {rate}/s", point.relay_cpu, "ms CPU"),
        Figure("evaluate", f"embedded broker CPU per decline at {rate}/s", point.broker_cpu, "ms CPU"),
        Figure(
            "evaluate",
            f"bare Kafka relay's run: embedded broker CPU per decline at {rate}/s",
            point.relay_broker_cpu,
            "ms CPU",
        ),
    ]
    return figures + added + [missing] + cpu + drift_figures(point) + own_figures(rate, point.own)


def drift_figures(point: LoadPoint) -> list[Figure]:
    """The p50 of the first and of the last fifth of a run (by send time), flexbridge's added time and
    the relay's end to end: a tail that grows through the run shows here, a steady one does not."""
    rate, figures = point.rate, []
    for what, times in (("added", point.added), ("bare Kafka relay", point.relay)):
        fifth = max(1, len(times) // 5)
        for part, some in (("first", times[:fifth]), ("last", times[-fifth:])):
            name = f"{what} p50 in the run's {part} fifth at {rate}/s"
            figures.append(Figure("evaluate", name, percentile(some, 50), "ms"))
    return figures
