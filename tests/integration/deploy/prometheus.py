"""A real Prometheus for the tests: Debian's ``/usr/bin/prometheus`` scraping live workers.

It loads ``deploy/prometheus/alerts.yml`` with every ``for:`` cut to 0 s (a test cannot wait the
shipped minutes; the expressions are the shipped ones) and scrapes and evaluates every second.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import yaml

from streams.local.procs import Child, free_port
from tests.support import child

__all__ = ["DASHBOARD", "PROMETHEUS", "RULES", "Prometheus", "panel_queries"]

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "flexbridge.json"
PROMETHEUS = Path("/usr/bin/prometheus")


def short_rules(dest: Path) -> Path:
    """A copy of the shipped rules with ``for: 0s``: an alert fires at its first true evaluation."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


class Prometheus:
    """One Prometheus on a loopback port, job ``flexbridge`` scraping ``targets`` (host:port)."""

    def __init__(self, workdir: Path, targets: list[str], log_dir: Path) -> None:
        assert PROMETHEUS.exists(), "prometheus is missing: run `bash tests/system-packages.sh` (as root)"
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(short_rules(workdir / "alerts.yml"))],
            "scrape_configs": [{"job_name": "flexbridge", "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            str(PROMETHEUS),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.process: Child = child("prometheus", args, {}, log_dir)

    async def ready(self, timeout: float = 30) -> None:
        await asyncio.to_thread(self.process.wait_ready, self.url + "/-/ready", timeout)

    async def api(self, path: str, **params: str | float) -> Any:
        """``/api/v1/<path>``'s ``data``; fails the test on an error answer (a bad query, say)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            answer = (await http.get(f"/api/v1/{path}", params=params)).json()
        assert answer["status"] == "success", (path, params, answer)
        return answer["data"]

    async def alerts(self) -> list[dict[str, Any]]:
        """Every pending or firing alert."""
        alerts: list[dict[str, Any]] = (await self.api("alerts"))["alerts"]
        return alerts

    async def evaluations(self) -> int:
        """How many times the rule group has been evaluated (Prometheus's own /metrics)."""
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(self.url + "/metrics")).text
        found = re.findall(r"^prometheus_rule_group_iterations_total\{[^}]*\} (\S+)$", text, re.M)
        return int(sum(float(v) for v in found))

    def stop(self) -> None:
        self.process.stop()


def panel_queries(dashboard: dict[str, Any], variables: dict[str, str]) -> list[tuple[str, str]]:
    """(panel title, query) of every target, with the dashboard's variables replaced by ``variables``."""
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in variables.items():
                expr = expr.replace(f"${name}", value)
            queries.append((panel["title"], expr))
    return queries
