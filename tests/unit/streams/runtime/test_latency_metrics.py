"""The two latency histograms operators read: a record's end to end, and the event loop's lag."""

from __future__ import annotations

import asyncio
import time

from streams.runtime.loop_lag import probe_lag
from streams.runtime.metrics import Metrics


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_end_to_end_counts_from_the_record_timestamp_never_below_zero() -> None:
    metrics = Metrics()
    metrics.finished("evaluate", 1_000_000, decided=1_000.25)  # 0.25 s after the record's timestamp
    metrics.finished("evaluate", 1_000_500, decided=1_000.25)  # a producer's clock ahead: 0, not −0.25
    metrics.finished("transmit", -1, decided=1_000.25)  # no timestamp: nothing to measure
    name = "flexbridge_end_to_end_seconds"
    assert _sample(metrics, name + "_count", flow="evaluate") == 2
    assert _sample(metrics, name + "_sum", flow="evaluate") == 0.25
    assert _sample(metrics, name + "_bucket", flow="evaluate", le="0.1") == 1
    assert _sample(metrics, name + "_bucket", flow="evaluate", le="0.25") == 2
    assert _sample(metrics, name + "_count", flow="transmit") == 0


async def test_the_probe_sees_a_stall_that_holds_the_loop() -> None:
    lags: list[float] = []
    stalled = asyncio.Event()

    def observe(lag: float) -> None:
        lags.append(lag)
        if len(lags) == 2:  # once the probe sleeps again, another callback holds the loop 0.2 s
            asyncio.get_running_loop().call_soon(time.sleep, 0.2)
        if len(lags) == 3:
            stalled.set()

    probe = asyncio.create_task(probe_lag(observe, every=0.01))
    await asyncio.wait_for(stalled.wait(), 10)
    probe.cancel()
    assert all(lag >= 0 for lag in lags)
    # due 0.01 s after the stall began, woken only after its 0.2 s: at least 0.19 s late, however
    # slow the machine (a lower bound by construction, not a timing of the code)
    assert lags[2] >= 0.19
