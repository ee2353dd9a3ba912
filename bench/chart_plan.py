"""What each flow's chart shows, decided without matplotlib: its bar panels (one per unit, a log
axis where the bars differ by more than ``LOG_SPREAD``×), and its lines of ratios and targets."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bench.common import Figure

__all__ = [
    "LOG_SPREAD",
    "Bar",
    "FlowChart",
    "Panel",
    "chart_file",
    "format_target",
    "format_value",
    "is_baseline",
    "label_inside",
    "plan_charts",
    "plan_flow",
    "target_text",
    "use_log",
    "verdict_line",
    "x_limits",
]

LOG_SPREAD = 10.0
RATIO = "x"
_BASELINE_WORDS = ("bare", "naive", "sandbox", "one at a time")
_PERCENTILE = re.compile(r"^(?P<head>.*?)\s*\b(?P<pct>p\d+(?:\.\d+)?)\b\s*(?P<tail>.*)$")
_UNIT_TITLES = {
    "events/s": "throughput (events/s)",
    "commands/s": "throughput (commands/s)",
    "ms": "latency (ms)",
    "s": "time (s)",
    "µs": "CPU time per record (µs)",
    "ms CPU": "CPU time per event (ms)",
    "MB": "memory (MB)",
    "%": "growth (%)",
}
LABEL_ROOM = 0.15  # the share of a panel's width a value label takes, about


@dataclass(frozen=True)
class Bar:
    """One bar: ``row`` is its label on the axis; ``group`` a percentile (``p99``) or ``""``."""

    row: str
    group: str
    value: float
    text: str
    baseline: bool
    target: float | None = None
    at_most: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    bars: tuple[Bar, ...]
    log: bool


@dataclass(frozen=True)
class FlowChart:
    flow: str
    title: str
    subtitle: str
    panels: tuple[Panel, ...]
    lines: tuple[tuple[str, str], ...]  # (text, verdict: PASS, MISS or "")


def use_log(values: list[float]) -> bool:
    """A log axis when every value is positive and the largest is over ``LOG_SPREAD`` × the smallest."""
    if not values or min(values) <= 0:
        return False
    return max(values) / min(values) > LOG_SPREAD


def is_baseline(name: str) -> bool:
    """Whether a figure measures a same-run baseline rather than flexbridge (by its name)."""
    return name.lower().startswith(_BASELINE_WORDS)


def format_value(value: float, unit: str) -> str:
    """``20.8×``, ``18.2 events/s``, ``1,234 events/s``, ``0.42 ms``, ``0.043×``: two or three significant
    figures, all the digits of a large number."""
    magnitude = abs(value)
    if magnitude >= 100:
        number = f"{value:,.0f}"
    elif magnitude >= 10:
        number = f"{value:.1f}"
    else:
        number = f"{value:.2f}" if magnitude >= 0.1 else f"{value:.2g}"
    if unit == RATIO:
        return number + "×"
    return f"{number} {unit}"


def format_target(target: float, unit: str) -> str:
    """Targets are round numbers: ``20×``, ``0.8×``, ``300 MB``, ``5,000 records``."""
    number = f"{target:,g}"
    return number + "×" if unit == RATIO else f"{number} {unit}"


def target_text(figure: Figure) -> str:
    if figure.target is None:
        return "no target"
    return ("target ≤ " if figure.at_most else "target ≥ ") + format_target(figure.target, figure.unit)


def verdict_line(figure: Figure) -> str:
    """``flexbridge / naive: 20.8× — target ≥ 20× — PASS``."""
    parts = [f"{figure.name}: {format_value(figure.value, figure.unit)}", target_text(figure)]
    if figure.verdict:
        parts.append(figure.verdict)
    return " — ".join(parts)


def x_limits(panel: Panel) -> tuple[float, float]:
    """The value axis: every bar and target, zero on a linear axis, and room right for the labels."""
    values = [b.value for b in panel.bars] + [b.target for b in panel.bars if b.target is not None]
    low, high = min(values), max(values)
    if panel.log:
        return low / 3, high * 6
    return min(0.0, low * 1.3), max(high, 0.0) * 1.35 or 1.0


def _share(panel: Panel, start: float, end: float) -> float:
    """How much of the panel's width lies from ``start`` to ``end`` on its axis."""
    low, high = x_limits(panel)
    if panel.log:
        return (math.log(end) - math.log(start)) / (math.log(high) - math.log(low))
    return (end - start) / (high - low)


def label_inside(panel: Panel, bar: Bar) -> bool:
    """Write the value inside the bar's end when its target line sits just right of it (where the
    label would go) and the bar is long enough to hold the label."""
    if bar.target is None or bar.value <= 0 or bar.target <= bar.value:
        return False
    low, _ = x_limits(panel)
    close = _share(panel, bar.value, bar.target) < LABEL_ROOM
    return close and _share(panel, low, bar.value) > LABEL_ROOM


def chart_file(flow: str) -> str:
    """``mit batch`` → ``mit-batch.png``."""
    return re.sub(r"[^a-z0-9]+", "-", flow.lower()).strip("-") + ".png"


def _bar(figure: Figure) -> Bar:
    match = _PERCENTILE.match(figure.name) if figure.unit in ("ms", "s") else None
    row, group = figure.name, ""
    if match:
        row = " ".join(part for part in (match["head"], match["tail"]) if part)
        group = match["pct"]
    text = format_value(figure.value, figure.unit)
    return Bar(row, group, figure.value, text, is_baseline(figure.name), figure.target, figure.at_most)


def _panel(unit: str, figures: list[Figure]) -> Panel:
    bars = tuple(_bar(f) for f in figures)
    log = use_log([b.value for b in bars])
    title = _UNIT_TITLES.get(unit, unit)
    return Panel(title + (", log scale" if log else ""), unit, bars, log)


def _title(flow: str, panels: tuple[Panel, ...]) -> str:
    groups = sorted({b.group for p in panels for b in p.bars if b.group}, key=lambda g: float(g[1:]))
    if groups:
        listed = " and ".join([", ".join(groups[:-1]), groups[-1]] if len(groups) > 2 else groups)
        return f"{flow}: latency in ms at {listed} (the only percentiles the benchmark records)"
    if not any(b.baseline for p in panels for b in p.bars):
        return f"{flow}: flexbridge against its target (no same-run baseline)"
    return f"{flow}: flexbridge beside its same-run baselines"


def plan_flow(flow: str, figures: list[Figure]) -> FlowChart:
    """Bar panels for each unit with two figures or more (or the flow's only unit), then lines for
    every ratio, every figure with a target, and any figure not drawn as a bar."""
    by_unit: dict[str, list[Figure]] = {}
    for f in figures:
        if f.unit != RATIO:
            by_unit.setdefault(f.unit, []).append(f)
    drawn = {u: fs for u, fs in by_unit.items() if len(fs) > 1 or len(by_unit) == 1}
    panels = tuple(_panel(unit, fs) for unit, fs in drawn.items())
    in_bars = {id(f) for fs in drawn.values() for f in fs}
    lines = tuple(
        (verdict_line(f), f.verdict)
        for f in figures
        if f.unit == RATIO or f.target is not None or id(f) not in in_bars
    )
    return FlowChart(
        flow, _title(flow, panels), _notes([f for f in figures if id(f) in in_bars]), panels, lines
    )


def _notes(figures: list[Figure]) -> str:
    """The drawn figures' notes, once each: the first describes the run, the others name their figure."""
    seen: dict[str, str] = {}
    for f in figures:
        if f.note and f.note not in seen:
            seen[f.note] = f"{f.name}: {f.note}" if seen else f.note
    return "; ".join(seen.values())


def plan_charts(figures: list[Figure]) -> list[FlowChart]:
    """One chart per flow, in the order the flows first appear."""
    flows: dict[str, list[Figure]] = {}
    for f in figures:
        flows.setdefault(f.flow, []).append(f)
    return [plan_flow(flow, fs) for flow, fs in flows.items()]
