"""The shipped monitoring files: every alert documented and unit-tested, the dashboard importable.

promtool itself runs in tests/integration/deploy/ (it is a Debian package, installed by make test).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from streams.runtime.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def runbook_anchors() -> set[str]:
    """GitHub's anchors of the headings under "Alerts and runbook" in docs/operations.md."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("\n## Alerts and runbook", 1)[1].split("\n## ", 1)[0]
    return {h.strip().lower().replace(" ", "-") for h in re.findall(r"^### (.+)$", section, re.M)}


def test_every_alert_has_a_severity_a_summary_a_description_and_its_runbook_paragraph() -> None:
    anchors = runbook_anchors()
    for rule in alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert rule["annotations"]["runbook_url"] == f"docs/operations.md#{name.lower()}"
        assert name.lower() in anchors, f"docs/operations.md has no runbook paragraph for {name}"


def test_every_alert_has_a_firing_case_and_a_quiet_case() -> None:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.test.yml").read_text())
    assert doc["rule_files"] == ["alerts.yml"]
    fires, quiet = set(), set()
    for case in doc["tests"]:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert len(names) == 21
    assert fires == names and quiet == names


def test_dashboard_is_importable_with_a_datasource_variable() -> None:
    board = json.loads((DEPLOY / "grafana" / "flexbridge.json").read_text())
    assert board["schemaVersion"] >= 36 and board["uid"] == "flexbridge"
    assert [(i["type"], i["pluginId"]) for i in board["__inputs"]] == [("datasource", "prometheus")]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    source = variables["datasource"]
    assert source["type"] == "datasource" and source["query"] == "prometheus"
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    graphs = [p for p in panels if p["type"] != "row"]
    assert graphs and all(p["datasource"] == {"type": "prometheus", "uid": "${datasource}"} for p in graphs)
    assert all(t["expr"] and t["datasource"]["uid"] == "${datasource}" for p in graphs for t in p["targets"])


def test_dashboard_has_a_row_per_flow_then_lag_dead_letters_and_stuck_orders() -> None:
    board = json.loads((DEPLOY / "grafana" / "flexbridge.json").read_text())
    rows = [p["title"].lower() for p in board["panels"] if p["type"] == "row"]
    subjects = ("transmit", "evaluate", "mit batches", "webhooks", "commands", "lag", "dead letters", "stuck")
    for subject in subjects:
        assert any(subject in row for row in rows), (subject, rows)


def merchant_metrics() -> set[str]:
    """The worker's metric families with a ``merchant`` label (streams/runtime/metrics.py)."""
    collectors = Metrics().registry._collector_to_names  # prometheus_client's own map of them
    return {c._name for c in collectors if "merchant" in getattr(c, "_labelnames", ())}  # type: ignore[attr-defined]


def test_the_dashboard_shows_the_chosen_merchants_on_every_panel_whose_metric_names_them() -> None:
    board = json.loads((DEPLOY / "grafana" / "flexbridge.json").read_text())
    variable = {v["name"]: v for v in board["templating"]["list"]}["merchant"]
    assert (variable["type"], variable["multi"], variable["includeAll"], variable["allValue"]) == (
        "query",
        True,
        True,
        ".*",
    )
    assert variable["query"]["query"] == "label_values(flexbridge_events_in_total, merchant)"
    labelled = merchant_metrics()
    assert len(labelled) >= 15
    selectors = re.compile(r"\b(flexbridge_[a-z0-9_]+?)(?:_total|_bucket)?\b(\{[^}]*\})?")
    filtered = 0
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            for name, matchers in selectors.findall(target["expr"]):
                if name in labelled:
                    assert 'merchant=~"$merchant"' in matchers, (panel["title"], target["expr"])
                    filtered += 1
    assert filtered >= 20
