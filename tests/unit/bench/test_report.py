"""Unit tests of what the benchmark charts show (bench/chart_plan.py) and of drawing them again
from a saved run (bench/report.py)."""

from __future__ import annotations

from pathlib import Path

from bench.chart_plan import (
    Bar,
    Panel,
    chart_file,
    format_target,
    format_value,
    is_baseline,
    label_inside,
    plan_charts,
    plan_flow,
    use_log,
    verdict_line,
    x_limits,
)
from bench.common import Figure
from bench.report import main, write_results

TRANSMIT = [
    Figure("transmit", "flexbridge", 844.0, "events/s", note="6000 approvals, 50 ms Flex"),
    Figure("transmit", "naive consumer (a)", 18.0, "events/s"),
    Figure("transmit", "bare httpx loop, 256 in flight (b)", 114.0, "events/s"),
    Figure("transmit", "flexbridge / naive", 46.9, "x", target=20),
    Figure("transmit", "flexbridge / bare loop", 0.74, "x", target=0.8),
]
EVALUATE = [
    Figure("evaluate", "end to end p50", 6.6, "ms", note="2000 declines at 100/s"),
    Figure("evaluate", "end to end p99", 11.6, "ms"),
    Figure("evaluate", "sandbox service p50 (bare httpx)", 1.1, "ms"),
    Figure("evaluate", "sandbox service p99 (bare httpx)", 2.4, "ms"),
    Figure("evaluate", "added p99", 9.2, "ms", target=20, at_most=True),
]


def _panel(values: list[float], target: float | None = None, log: bool = False) -> Panel:
    bars = tuple(Bar(f"row {i}", "", v, "", False, target if i == 0 else None) for i, v in enumerate(values))
    return Panel("", "MB", bars, log)


def test_a_log_axis_only_when_positive_values_differ_by_more_than_ten_times() -> None:
    assert use_log([18.0, 200_000.0])
    assert use_log([1.0, 10.5])
    assert not use_log([1.0, 10.0])
    assert not use_log([838.0, 2072.0])
    assert not use_log([-3.0, 120.0]), "a log axis cannot show a negative added latency"
    assert not use_log([0.0, 50.0])
    assert not use_log([])


def test_baselines_are_told_from_flexbridge_by_name() -> None:
    assert is_baseline("naive consumer (a)")
    assert is_baseline("bare getmany loop CPU per record")
    assert is_baseline("sandbox service p99 (bare httpx)")
    assert not is_baseline("flexbridge /webhooks/flex")
    assert not is_baseline("batch path, topic to uploaded file")


def test_values_keep_two_or_three_significant_figures_and_targets_stay_round() -> None:
    assert format_value(20.83, "x") == "20.8×"
    assert format_value(0.4046, "x") == "0.40×"
    assert format_value(0.0434, "x") == "0.043×"
    assert format_value(255_615.4, "events/s") == "255,615 events/s"
    assert format_value(9.2, "ms") == "9.20 ms"
    assert format_target(20.0, "x") == "20×"
    assert format_target(0.8, "x") == "0.8×"
    assert format_target(5000.0, "records") == "5,000 records"


def test_a_verdict_line_names_the_ratio_its_target_and_the_verdict() -> None:
    assert verdict_line(Figure("transmit", "flexbridge / naive", 20.83, "x", target=20)) == (
        "flexbridge / naive: 20.8× — target ≥ 20× — PASS"
    )
    assert verdict_line(Figure("start-up", "worker to /ready", 12.0, "s", target=10, at_most=True)) == (
        "worker to /ready: 12.0 s — target ≤ 10 s — MISS"
    )
    assert verdict_line(Figure("mit batch", "full worker / bare loop", 0.033, "x")) == (
        "full worker / bare loop: 0.033× — no target"
    )


def test_a_throughput_flow_draws_flexbridge_beside_its_baselines_and_lists_its_ratios() -> None:
    chart = plan_flow("transmit", TRANSMIT)
    assert chart.title == "transmit: flexbridge beside its same-run baselines"
    assert chart.subtitle == "6000 approvals, 50 ms Flex"
    [panel] = chart.panels
    assert panel.log and panel.title == "throughput (events/s), log scale"
    assert [(b.row, b.baseline, b.text) for b in panel.bars] == [
        ("flexbridge", False, "844 events/s"),
        ("naive consumer (a)", True, "18.0 events/s"),
        ("bare httpx loop, 256 in flight (b)", True, "114 events/s"),
    ]
    assert chart.lines == (
        ("flexbridge / naive: 46.9× — target ≥ 20× — PASS", "PASS"),
        ("flexbridge / bare loop: 0.74× — target ≥ 0.8× — MISS", "MISS"),
    )


def test_latency_bars_are_grouped_by_percentile_and_the_title_says_which_were_recorded() -> None:
    chart = plan_flow("evaluate", EVALUATE)
    assert (
        chart.title == "evaluate: latency in ms at p50 and p99 (the only percentiles the benchmark records)"
    )
    [panel] = chart.panels
    assert [(b.row, b.group) for b in panel.bars] == [
        ("end to end", "p50"),
        ("end to end", "p99"),
        ("sandbox service (bare httpx)", "p50"),
        ("sandbox service (bare httpx)", "p99"),
        ("added", "p99"),
    ]
    assert panel.bars[-1].target == 20 and panel.bars[-1].at_most
    assert chart.lines == (("added p99: 9.20 ms — target ≤ 20 ms — PASS", "PASS"),)


def test_a_lone_figure_of_its_unit_is_a_line_unless_it_is_the_flows_only_unit() -> None:
    startup = plan_flow(
        "start-up", [Figure("start-up", "worker to /ready", 6.2, "s", target=10, at_most=True)]
    )
    assert startup.title == "start-up: flexbridge against its target (no same-run baseline)"
    assert [b.row for p in startup.panels for b in p.bars] == ["worker to /ready"]
    mit = plan_flow(
        "mit batch",
        [
            Figure("mit batch", "bare getmany loop", 255_615, "events/s"),
            Figure("mit batch", "batch path, topic to uploaded file", 11_098, "events/s"),
            Figure("mit batch", "batch path peak RSS growth", 11.7, "%", target=20, at_most=True),
            Figure("mit batch", "sandbox CPU per record", 81, "µs"),
        ],
    )
    assert [p.unit for p in mit.panels] == ["events/s"]
    assert [text for text, _ in mit.lines] == [
        "batch path peak RSS growth: 11.7 % — target ≤ 20 % — PASS",
        "sandbox CPU per record: 81.0 µs — no target",
    ]


def test_one_chart_per_flow_in_the_order_the_flows_ran() -> None:
    charts = plan_charts(EVALUATE + TRANSMIT + [Figure("mit batch", "bare getmany loop", 1.0, "events/s")])
    assert [c.flow for c in charts] == ["evaluate", "transmit", "mit batch"]
    assert [chart_file(c.flow) for c in charts] == ["evaluate.png", "transmit.png", "mit-batch.png"]


def test_the_axis_holds_every_bar_and_target_with_room_for_labels() -> None:
    assert x_limits(_panel([243.0, 271.0], target=300.0)) == (0.0, 300.0 * 1.35)
    assert x_limits(_panel([18.0, 844.0], log=True)) == (6.0, 844.0 * 6)


def test_a_value_goes_inside_its_bar_only_when_its_target_line_would_cross_the_label() -> None:
    assert label_inside(_panel([271.0, 243.0], target=300.0), _panel([271.0, 243.0], target=300.0).bars[0])
    far = _panel([100.0, 243.0], target=300.0)
    assert not label_inside(far, far.bars[0])
    passed = _panel([320.0, 243.0], target=300.0)
    assert not label_inside(passed, passed.bars[0]), "the line lies inside the bar, not on its label"
    short = _panel([2.0, 243.0], target=3.0)
    assert not label_inside(short, short.bars[0]), "too short a bar to hold its label"


def test_a_saved_run_is_drawn_again_the_same(tmp_path: Path) -> None:
    first = write_results(TRANSMIT, tmp_path / "run").read_text()
    assert main(["--from", str(tmp_path / "run" / "latest.json"), "--out", str(tmp_path / "again")]) == 0
    again = (tmp_path / "again" / "latest.md").read_text()
    assert again == first
    assert "| transmit | flexbridge / naive | 46.90 x | ≥ 20 x | PASS |  |" in again
    drawn = sorted(p.name for p in (tmp_path / "again").glob("*.png"))
    assert drawn == sorted(p.name for p in (tmp_path / "run").glob("*.png"))
    assert all(f"![{name}]({name})" in again for name in drawn)


def test_the_notes_say_once_how_the_run_went_and_name_the_figure_of_any_other() -> None:
    chart = plan_flow(
        "mit batch",
        [
            Figure("mit batch", "bare getmany loop", 27_830, "events/s", note="50000 events"),
            Figure("mit batch", "batch path, topic to uploaded file", 672, "events/s", note="50000 events"),
            Figure("mit batch", "batch path CPU per record", 137, "µs", note="user + system, whole process"),
            Figure("mit batch", "bare getmany loop CPU per record", 4.6, "µs"),
        ],
    )
    assert chart.subtitle == "50000 events; batch path CPU per record: user + system, whole process"
