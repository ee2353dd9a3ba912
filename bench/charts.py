"""Draw each flow's chart (``bench.chart_plan``) as a PNG with matplotlib, if it is installed."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.chart_plan import Bar, FlowChart, Panel, chart_file, label_inside, plan_charts, x_limits
from bench.common import Figure

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

__all__ = ["draw_charts"]

WIDTH = 11.0  # inches; at DPI 100 that is 1100 pixels, readable at 100 % zoom
DPI = 100
ROW_INCHES = 0.5
LINE_INCHES = 0.36
BLUES = ("#8fb4e0", "#1f5fa8", "#0b2d57")  # flexbridge: one colour, or one shade per percentile
GREYS = ("#c9c9c9", "#8c8c8c", "#505050")  # same-run baselines
TARGET_COLOUR = "#b3261e"
LEGEND_COLUMNS = 4  # more in one row would narrow the panels below
VERDICT_COLOURS = {"PASS": "#1b7a2f", "MISS": "#b3261e", "": "#555555"}


def _colour(bar: Bar, groups: list[str]) -> str:
    shades = GREYS if bar.baseline else BLUES
    return shades[groups.index(bar.group) % len(shades)] if bar.group else shades[1]


def _number(value: float, _position: object = None) -> str:
    """Axis ticks as plain numbers: ``2.5``, ``10``, ``100,000``."""
    return f"{value:,.0f}" if value == round(value) else f"{value:,.6g}"


def _label(ax: Axes, panel: Panel, bar: Bar, y: float) -> None:
    style: dict[str, Any] = {"va": "center", "fontsize": 11, "fontweight": "bold"}
    if label_inside(panel, bar):
        ax.text(bar.value, y, bar.text + " ", ha="right", color="white", **style)
        return
    low, high = x_limits(panel)
    x = bar.value * 1.08 if panel.log else bar.value + 0.012 * (high - low) * (1 if bar.value >= 0 else -1)
    ax.text(x, y, bar.text, ha="left" if bar.value >= 0 else "right", **style)


def _draw_panel(ax: Axes, panel: Panel) -> None:
    import matplotlib.ticker as ticker

    rows = list(dict.fromkeys(b.row for b in panel.bars))
    groups = list(dict.fromkeys(b.group for b in panel.bars))
    height = 0.8 / len(groups)
    for bar in panel.bars:
        y = rows.index(bar.row) + (groups.index(bar.group) - (len(groups) - 1) / 2) * height
        ax.barh(y, bar.value, height=height * 0.9, color=_colour(bar, groups))
        _label(ax, panel, bar, y)
        if bar.target is not None:
            span = [y - height / 2 - 0.06, y + height / 2 + 0.06]
            ax.plot([bar.target] * 2, span, color=TARGET_COLOUR, lw=2.5, ls="--")
    ax.set_yticks(range(len(rows)), [textwrap.fill(r, 34) for r in rows], fontsize=11)
    ax.invert_yaxis()
    if panel.log:
        ax.set_xscale("log")
    ax.set_xlim(*x_limits(panel))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_number))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_title(panel.title, loc="left", fontsize=12, fontweight="bold")
    ax.tick_params(axis="x", labelsize=10)
    ax.grid(axis="x", which="major", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _draw_lines(ax: Axes, lines: tuple[tuple[str, str], ...]) -> None:
    ax.axis("off")
    ax.set_title("ratios and targets", loc="left", fontsize=12, fontweight="bold")
    for i, (text, verdict) in enumerate(lines):
        y = 1 - (i + 0.5) / len(lines)
        weight = "bold" if verdict else "normal"
        ax.text(0.0, y, text, color=VERDICT_COLOURS[verdict], fontsize=12, fontweight=weight, va="center")


def _handles(chart: FlowChart) -> list[Artist]:
    """The key's entries: the bar colours (flexbridge, baselines, by percentile) and the target line."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    bars = [b for p in chart.panels for b in p.bars]
    groups = list(dict.fromkeys(b.group for b in bars))
    kinds = dict.fromkeys((b.baseline, b.group) for b in bars)
    sandbox = " or sandbox" if any(b.row.startswith("sandbox") for b in bars) else ""
    handles: list[Artist] = []
    for baseline, group in sorted(kinds, key=lambda k: (k[0], groups.index(k[1]))):
        name = f"{'baseline' if baseline else 'flexbridge'} {group}" if group else ""
        name = name or ("flexbridge" if not baseline else "same-run baseline" + sandbox)
        handles.append(Patch(color=_colour(Bar("", group, 0, "", baseline), groups), label=name))
    if any(b.target is not None for b in bars):
        handles.append(Line2D([], [], color=TARGET_COLOUR, lw=2.5, ls="--", label="target"))
    return handles


def _legend(ax: Axes, handles: list[Artist]) -> None:
    """A key for the bar colours and the target line, above the panels, ``LEGEND_COLUMNS`` a row."""
    ax.axis("off")
    ncols = min(len(handles), LEGEND_COLUMNS)
    ax.legend(handles=handles, loc="center left", ncols=ncols, fontsize=11, frameon=False, borderaxespad=0)


def _draw(chart: FlowChart, path: Path) -> None:
    import matplotlib.pyplot as plt

    # one column: the key, the flow's bars by unit, then its ratios and targets
    handles = _handles(chart)
    heights = [0.3 * math.ceil(len(handles) / LEGEND_COLUMNS)] + [
        0.9 + ROW_INCHES * len(p.bars) for p in chart.panels
    ]
    if chart.lines:
        heights.append(0.5 + LINE_INCHES * len(chart.lines))
    size = (WIDTH, 1.0 + sum(heights))
    fig, axes = plt.subplots(
        len(heights), figsize=size, height_ratios=heights, squeeze=False, layout="constrained"
    )
    _legend(axes[0, 0], handles)
    for ax, panel in zip(axes[1:, 0], chart.panels, strict=False):
        _draw_panel(ax, panel)
    if chart.lines:
        _draw_lines(axes[-1, 0], chart.lines)
    fig.suptitle(chart.title, fontsize=15, fontweight="bold", x=0.01, ha="left")
    if chart.subtitle:
        fig.supxlabel(chart.subtitle, fontsize=10, color="#555555", x=0.01, ha="left")
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def draw_charts(figures: list[Figure], out: Path) -> list[str]:
    """One PNG per flow in ``out``; their file names (none when matplotlib is not installed)."""
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg")
    made = []
    for chart in plan_charts(figures):
        name = chart_file(chart.flow)
        _draw(chart, out / name)
        made.append(name)
    return made
