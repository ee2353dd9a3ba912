"""Write ``bench/results/latest.json``, ``latest.md`` and (with matplotlib) PNG charts."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.common import Figure

__all__ = ["machine", "write_results"]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def _table(figures: list[Figure]) -> str:
    lines = ["| flow | figure | value | target | verdict | note |", "|---|---|---:|---:|---|---|"]
    for f in figures:
        target = "" if f.target is None else ("≤ " if f.at_most else "≥ ") + f"{f.target:g} {f.unit}"
        lines.append(f"| {f.flow} | {f.name} | {f.value:,.2f} {f.unit} | {target} | {f.verdict} | {f.note} |")
    return "\n".join(lines)


def _charts(figures: list[Figure], out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    for unit, name in (("events/s", "throughput"), ("ms", "latency")):
        chosen = [f for f in figures if f.unit == unit]
        if not chosen:
            continue
        fig, ax = plt.subplots(figsize=(9, 0.5 + 0.45 * len(chosen)))
        ax.barh([f"{f.flow}: {f.name}" for f in chosen], [f.value for f in chosen])
        ax.set_xlabel(unit)
        ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(out / f"{name}.png", dpi=100)
        plt.close(fig)
        made.append(f"{name}.png")
    return made


def write_results(figures: list[Figure], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    m = machine()
    data = {"when": when, "machine": m, "figures": [f.to_json() for f in figures]}
    (out / "latest.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    charts = _charts(figures, out)
    md = [
        f"# flexbridge benchmark — {when}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['os']}.",
        "Ratios compare flexbridge with baselines measured in the same run.",
        "",
        _table(figures),
        "",
        *[f"![{c}]({c})" for c in charts],
    ]
    path = out / "latest.md"
    path.write_text("\n".join(md) + "\n")
    return path
