"""Every metric a panel of deploy/grafana/flexbridge.json queries is one a live worker exports."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Stack
from tests.flows import ready
from tests.integration.deploy.prometheus import DASHBOARD, ROOT, panel_queries

pytestmark = pytest.mark.integration

# flexbridge_orders_open{state, age} comes with the order reconciliation. Until a worker exports it,
# the panels that use it are checked against streams/runtime/metrics.py's source: while the source
# does not define it, its absence is tolerated; once the source defines it, the live scrape must have it.
PENDING = {"flexbridge_orders_open": "orders_open"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}


def exported(text: str) -> set[str]:
    """The sample names a scrape offers, counting labelled families that have no sample yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def used_metrics() -> dict[str, list[str]]:
    """Metric name → the panels that query it (``up`` is Prometheus's own, not a worker's)."""
    used: dict[str, list[str]] = {}
    for title, query in panel_queries(json.loads(DASHBOARD.read_text()), {}):
        for name in re.findall(r"\bflexbridge_[a-z0-9_]+", query):
            used.setdefault(name, []).append(title)
    return used


async def test_every_panel_queries_a_metric_the_worker_exports(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    async with httpx.AsyncClient(timeout=5) as http:
        scraped = exported((await http.get(worker.url + "/metrics")).text)
    used = used_metrics()
    assert len(used) >= 15
    source = (ROOT / "streams" / "runtime" / "metrics.py").read_text()
    for name, attribute in PENDING.items():
        if name not in scraped and attribute not in source:
            used.pop(name, None)  # not in the worker yet: the shape is pinned by alerts.test.yml
    missing = {name: panels for name, panels in used.items() if name not in scraped}
    assert missing == {}
