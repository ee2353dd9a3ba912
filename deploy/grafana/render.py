"""Draw deploy/grafana/flexbridge.json's panels from a Prometheus, without Grafana: one PNG per row.

    python deploy/grafana/render.py --prometheus http://127.0.0.1:9090 --out /tmp/flexbridge-panels \
        [--minutes 30] [--var declined_topic=payments.declined ...]

Each panel's queries run through ``/api/v1/query_range`` over the last ``--minutes``; the series are
drawn with matplotlib (``pip install -e '.[bench]'``). The dashboard's variables take their defaults
unless ``--var`` sets them; ``$__rate_interval`` is ``--rate-interval`` (default 1m).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import httpx
import matplotlib

matplotlib.use("Agg")  # headless: before pyplot is imported
import matplotlib.pyplot as plt

__all__ = ["main", "render"]

DASHBOARD = Path(__file__).with_name("flexbridge.json")


def defaults(board: dict[str, Any]) -> dict[str, str]:
    """Each variable's default: a text box's text; a query variable's "All" (``--var merchant=acme``
    shows one merchant's)."""
    variables = board["templating"]["list"]
    found = {v["name"]: v["query"] for v in variables if v["type"] == "textbox"}
    return found | {v["name"]: v["allValue"] for v in variables if v["type"] == "query"}


def rows(board: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(row title, its panels) in dashboard order."""
    found: list[tuple[str, list[dict[str, Any]]]] = []
    for panel in board["panels"]:
        if panel["type"] == "row":
            found.append((panel["title"], []))
        elif found:
            found[-1][1].append(panel)
    return found


def legend(template: str, metric: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), template) or "value"


def query(http: httpx.Client, expr: str, end: float, minutes: float) -> list[dict[str, Any]]:
    step = max(1.0, minutes * 60 / 300)
    params: dict[str, str | float] = {"query": expr, "start": end - minutes * 60, "end": end, "step": step}
    answer = http.get("/api/v1/query_range", params=params).json()
    if answer["status"] != "success":
        raise SystemExit(f"query failed: {expr}: {answer.get('error')}")
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def draw_panel(
    axis: Any, http: httpx.Client, panel: dict[str, Any], subst: dict[str, str], span: tuple[float, float]
) -> None:
    end, minutes = span
    axis.set_title(panel["title"], fontsize=9)
    drawn = 0
    for target in panel["targets"]:
        expr = target["expr"]
        for name, value in subst.items():
            expr = expr.replace(f"${name}", value)
        for series in query(http, expr, end, minutes):
            xs = [(float(t) - end) / 60 for t, _ in series["values"]]
            ys = [float(v) for _, v in series["values"]]
            axis.plot(xs, ys, linewidth=1, label=legend(target.get("legendFormat", ""), series["metric"]))
            drawn += 1
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    axis.set_xlabel("minutes before now", fontsize=7)
    axis.set_ylabel(unit, fontsize=7)
    axis.tick_params(labelsize=7)
    if drawn:
        axis.legend(fontsize=6, loc="upper left")
    else:
        axis.text(0.5, 0.5, "no data", ha="center", va="center", transform=axis.transAxes, color="grey")


def render(prometheus: str, out: Path, minutes: float, variables: dict[str, str]) -> list[Path]:
    """One PNG per dashboard row in ``out``; returns their paths."""
    board = json.loads(DASHBOARD.read_text())
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with httpx.Client(base_url=prometheus, timeout=30) as http:
        end = float(http.get("/api/v1/query", params={"query": "time()"}).json()["data"]["result"][1])
        for index, (title, panels) in enumerate(rows(board), 1):
            figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
            for axis, panel in zip(axes[0], panels, strict=True):
                draw_panel(axis, http, panel, variables, (end, minutes))
            figure.suptitle(title, fontsize=11)
            figure.tight_layout()
            path = out / f"{index:02d}-{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')}.png"
            figure.savefig(path, dpi=90)
            plt.close(figure)
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate-interval", default="1m")
    parser.add_argument("--var", action="append", default=[], help="NAME=VALUE, a dashboard variable")
    args = parser.parse_args()
    variables = defaults(json.loads(DASHBOARD.read_text()))
    variables.update(dict(v.split("=", 1) for v in args.var))
    variables["__rate_interval"] = args.rate_interval
    for path in render(args.prometheus, args.out, args.minutes, variables):
        print(path)  # noqa: T201


if __name__ == "__main__":
    main()
