"""Write ``bench/results/latest.json``, ``latest.md`` and (with matplotlib) one PNG chart per flow.

``python -m bench.report --from bench/results/latest.json`` draws them again from a saved run."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.charts import draw_charts
from bench.common import Figure

__all__ = ["hog_line", "machine", "main", "render", "write_results"]

_FIELDS = [f.name for f in fields(Figure)]


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


def _figure(item: dict[str, Any]) -> Figure:
    return Figure(**{k: item[k] for k in _FIELDS if k in item})


def hog_line(core: int | None) -> str:
    """Whether the run had ``--cpu-hog`` on (a busy loop pinned to ``core``)."""
    if core is None:
        return "CPU hog: off."
    return f"CPU hog: on (a busy loop pinned to core {core} beside the whole run)."


def render(data: dict[str, Any], out: Path) -> Path:
    """Write ``latest.md`` and the charts in ``out`` from the figures of one run (``latest.json``'s data)."""
    out.mkdir(parents=True, exist_ok=True)
    figures = [_figure(item) for item in data["figures"]]
    m = data["machine"]
    charts = draw_charts(figures, out)
    md = [
        f"# flexbridge benchmark — {data['when']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['os']}.",
        "Ratios compare flexbridge with baselines measured in the same run.",
        hog_line(data.get("cpu_hog")),
        "",
        _table(figures),
        "",
        *[f"![{c}]({c})" for c in charts],
    ]
    path = out / "latest.md"
    path.write_text("\n".join(md) + "\n")
    return path


def write_results(figures: list[Figure], out: Path, cpu_hog: int | None = None) -> Path:
    """Write ``latest.json``, then ``latest.md`` and the charts from it. ``cpu_hog``: the core a busy
    loop was pinned to during the run, or None."""
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    data = {"when": when, "machine": machine(), "cpu_hog": cpu_hog, "figures": [f.to_json() for f in figures]}
    (out / "latest.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return render(data, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("--from", dest="source", required=True, type=Path, help="a run's latest.json")
    parser.add_argument("--out", type=Path, help="folder for latest.md and the charts (default: beside it)")
    args = parser.parse_args(argv)
    data = orjson.loads(args.source.read_bytes())
    print(f"written: {render(data, args.out or args.source.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
