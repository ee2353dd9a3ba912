"""deploy/prometheus/alerts.yml on a real Prometheus scraping a real worker under a known workload.

The rules are the shipped ones with ``for: 0s`` (tests/integration/deploy/prometheus.py): quiet must
mean no alert was even pending, and the DLQ alert fires as soon as its expression holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Stack
from tests.flows import ready
from tests.integration.deploy.prometheus import DASHBOARD, Prometheus, panel_queries
from tests.support import produce, wait_for

pytestmark = pytest.mark.integration

Start = Callable[[list[str]], Prometheus]


async def scraping(prom: Prometheus, evaluations: int) -> None:
    """Until Prometheus has scraped the ready worker, then evaluated the rules ``evaluations`` times."""

    async def ready_scraped() -> bool:
        result = await prom.api("query", query='flexbridge_ready{job="flexbridge"} == 1')
        return bool(result["result"])

    await wait_for(ready_scraped, 30, "Prometheus to scrape the ready worker", every=0.2)
    first = await prom.evaluations()

    async def evaluated() -> int | None:
        done = await prom.evaluations() - first
        return done if done >= evaluations else None

    await wait_for(evaluated, 30, f"{evaluations} rule evaluations", every=0.2)


async def assert_rules_healthy(prom: Prometheus) -> None:
    groups = (await prom.api("rules"))["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 12
    assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []


async def test_a_quiet_worker_fires_nothing_and_a_dlq_burst_fires_the_dlq_alert(
    stack: Stack, prometheus: Start
) -> None:
    worker = stack.worker()
    await ready(worker)
    prom = prometheus([f"127.0.0.1:{worker.port}"])
    await prom.ready()
    await scraping(prom, evaluations=5)
    await assert_rules_healthy(prom)
    assert await prom.alerts() == []
    ever = await prom.api("query", query="count_over_time(ALERTS[10m])")
    assert ever["result"] == []  # not one alert was pending at any evaluation

    malformed: list[tuple[str | None, Any]] = [(f"bad-{i}", b"{not json") for i in range(25)]
    await produce(stack.bootstrap, stack.topics["approved"], malformed)

    async def dlq_firing() -> list[dict[str, Any]]:
        alerts = await prom.alerts()
        return [a for a in alerts if a["labels"]["alertname"] == "FlexbridgeDeadLetters"]

    (alert,) = await wait_for(dlq_firing, 60, "the DLQ alert to fire", every=0.5)
    assert alert["state"] == "firing"
    labels = alert["labels"]
    assert (labels["reason"], labels["merchant"]) == ("schema", "(unknown)")  # not JSON: no mid
    assert alert["annotations"]["runbook_url"] == "docs/operations.md#flexbridgedeadletters"
    assert {a["labels"]["alertname"] for a in await prom.alerts()} == {"FlexbridgeDeadLetters"}
    await assert_dashboard_queries_run(prom, stack)


async def assert_dashboard_queries_run(prom: Prometheus, stack: Stack) -> None:
    """Every panel query runs on this Prometheus; the DLQ and transmit panels show the burst (once
    Prometheus has scraped its series twice: rate() of a series born with the burst needs two samples)."""

    async def shown() -> dict[str, set[str]] | None:
        panels = await dashboard_series(prom, stack)
        return panels if '{"outcome": "dead-lettered"}' in panels["Approvals read and finished"] else None

    panels = await wait_for(shown, 30, "the dashboard to show the burst", every=0.5)
    assert '{"reason": "schema"}' in panels["Dead letters by reason"]
    assert '{"outcome": "dead-lettered"}' in panels["Approvals read and finished"]
    everyone = {'{"merchant": "(unknown)"}', '{"merchant": "default"}'}
    assert panels["Dead letters by merchant"] == everyone
    # the Merchant variable chooses the series: one merchant's alone (a chosen value as Grafana
    # escapes it for a regex matcher)
    unknown = await dashboard_series(prom, stack, merchant=r"\\(unknown\\)")
    assert unknown["Dead letters by merchant"] == {'{"merchant": "(unknown)"}'}
    default = await dashboard_series(prom, stack, merchant="default")
    assert default["Dead letters by merchant"] == {'{"merchant": "default"}'}
    assert default["Records finished by merchant"] <= {'{"merchant": "default"}'}


async def dashboard_series(prom: Prometheus, stack: Stack, merchant: str = ".*") -> dict[str, set[str]]:
    """Each panel's title → the label sets its queries return over the last two minutes, for the
    merchants ``merchant`` matches (the dashboard's "All": ``.*``)."""
    variables = {
        "approved_topic": stack.topics["approved"],
        "declined_topic": stack.topics["declined"],
        "commands_topic": stack.topics["commands"],
        "merchant": merchant,
        "__rate_interval": "1m",
    }
    shown: dict[str, set[str]] = {}
    end = float((await prom.api("query", query="time()"))["result"][1])
    for title, query in panel_queries(json.loads(DASHBOARD.read_text()), variables):
        data = await prom.api("query_range", query=query, start=end - 120, end=end, step=1)
        labels = {json.dumps(series["metric"], sort_keys=True) for series in data["result"]}
        shown.setdefault(title, set()).update(labels)
    return shown
