"""The benchmark reads a worker's histograms as Prometheus's histogram_quantile does."""

from __future__ import annotations

import math

from prometheus_client import generate_latest

from bench.worker_metrics import over, parse_buckets, quantile
from streams.runtime.metrics import Metrics

INF = math.inf


def test_quantile_interpolates_within_a_bucket_over_the_difference_of_two_readings() -> None:
    before = {0.01: 10.0, 0.025: 10.0, INF: 10.0}  # observed before the stretch: left out
    after = {0.01: 100.0, 0.025: 109.0, INF: 110.0}
    assert math.isclose(quantile(0.5, before, after), 0.01 * 50 / 90)
    assert math.isclose(quantile(0.99, before, after), 0.025)  # rank 99: the top of (0.01, 0.025]
    assert quantile(0.999, before, after) == 0.025  # in +Inf: the largest finite bound
    assert over(0.025, before, after) == 1
    assert math.isnan(quantile(0.99, after, after))  # nothing observed in between


def test_buckets_are_read_from_a_worker_scrape_by_label() -> None:
    metrics = Metrics()
    for seconds in (0.003, 0.02, 0.02, 40.0):
        metrics.end_to_end.labels("evaluate").observe(seconds)
    metrics.end_to_end.labels("transmit").observe(0.003)
    text = generate_latest(metrics.registry).decode()
    found = parse_buckets(text, "flexbridge_end_to_end_seconds", flow="evaluate")
    assert (found[0.005], found[0.025], found[30.0], found[60.0], found[INF]) == (1, 3, 3, 4, 4)
    both = parse_buckets(text, "flexbridge_end_to_end_seconds")
    assert both[0.005] == 2 and both[INF] == 5
