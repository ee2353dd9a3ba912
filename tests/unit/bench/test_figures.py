"""Unit tests of the benchmark's pure parts: percentiles, ratios, verdicts against the targets, the
evaluate and MIT batch figures, the ceiling's files, and how a run with a CPU hog is reported."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from bench import targets
from bench.chart_plan import plan_flow
from bench.common import Figure, percentile, ratio
from bench.evaluate_figures import LoadPoint, drift_figures, latency_figures, per_request
from bench.hog import cpu_hog, hog_core
from bench.mit import decode_floor
from bench.mit_ceiling import Loop, split_files
from bench.mit_figures import Folds, Measured, MitRuns, mit_figures
from bench.report import hog_line, write_results
from consumers.keys import event_key


def test_percentiles_are_taken_by_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unordered
    assert [percentile(values, q) for q in (50, 90, 99, 100)] == [50.0, 90.0, 99.0, 100.0]
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0], 50) == 1.0
    assert percentile([1.0, 2.0, 3.0], 99) == 3.0
    assert percentile([5.0, 1.0], 0) == 1.0
    assert math.isnan(percentile([], 50))


def test_a_ratio_against_a_missing_baseline_is_nan_and_misses_any_target() -> None:
    assert ratio(3.0, 4.0) == 0.75
    assert math.isnan(ratio(3.0, 0.0))
    assert math.isnan(ratio(3.0, float("nan")))
    assert Figure("f", "a / b", ratio(3.0, 0.0), "x", target=0.5).verdict == "MISS"


def test_a_target_is_met_at_its_value_from_either_side() -> None:
    assert Figure("f", "ratio", 0.6, "x", target=0.6).verdict == "PASS"
    assert Figure("f", "ratio", 0.59, "x", target=0.6).verdict == "MISS"
    assert Figure("f", "p99", 15.0, "ms", target=15, at_most=True).verdict == "PASS"
    assert Figure("f", "p99", 15.1, "ms", target=15, at_most=True).verdict == "MISS"
    assert Figure("f", "context", 1.0, "x").verdict == ""


def test_a_negative_or_missing_figure_never_passes() -> None:
    assert Figure("f", "added p99", -106.0, "ms", target=15, at_most=True).verdict == "MISS"
    assert Figure("f", "added p99", float("nan"), "ms", target=15, at_most=True).verdict == "MISS"
    assert Figure("f", "ratio", float("inf"), "x", target=0.5).verdict == "MISS"
    assert Figure("f", "context", -1.0, "ms").verdict == ""


def test_a_signed_figure_may_be_below_zero() -> None:
    assert Figure("f", "growth", -0.12, "%", target=20, at_most=True, signed=True).verdict == "PASS"
    assert Figure("f", "growth", 20.5, "%", target=20, at_most=True, signed=True).verdict == "MISS"
    assert Figure("f", "growth", float("nan"), "%", target=20, at_most=True, signed=True).verdict == "MISS"


def _point(
    rate: int, e2e_ms: list[float], sandbox_ms: list[float], relay_ms: tuple[float, ...] = ()
) -> LoadPoint:
    """Events E0.. with those end-to-end times, and their calls' journaled service times."""
    e2e = {f"E{i}": ms / 1000 for i, ms in enumerate(e2e_ms)}
    service = {event_key(f"E{i}"): ms for i, ms in enumerate(sandbox_ms)}
    bare = [ms / 1000 for ms in sandbox_ms]
    return per_request(rate, e2e, service, bare, [ms / 1000 for ms in relay_ms], note=f"at {rate}/s")


def test_added_is_taken_event_by_event_then_its_percentiles() -> None:
    # the slowest calls in the sandbox are not the slowest end to end: a difference of percentiles
    # would say 104 - 98 = 6 ms at p99; event by event flexbridge added 5 ms to 99 of the 100
    e2e = [float(v) for v in range(6, 106)]  # 6..105 ms
    sandbox = [e - 5.0 for e in e2e]
    sandbox[-1] = 10.0  # the slowest end to end spent only 10 ms in the sandbox
    point = _point(500, e2e, sandbox, relay_ms=(3.0, 1.0, 2.0))
    assert sorted(point.added) == [5.0] * 99 + [95.0]
    figures = {f.name: f for f in latency_figures(point)}
    assert figures["end to end p90 at 500/s"].value == pytest.approx(95.0)
    assert figures["end to end p99 at 500/s"].value == pytest.approx(104.0)
    assert figures["sandbox service p99 at 500/s (journal)"].value == pytest.approx(98.0)
    assert figures["sandbox service p99 at 500/s (bare httpx)"].value == pytest.approx(98.0)
    # the bare Kafka relay's own end to end, a baseline without a target
    assert [figures[f"bare Kafka relay p{q} at 500/s"].value for q in (50, 99)] == [2.0, 3.0]
    assert figures["bare Kafka relay p99 at 500/s"].target is None
    assert figures["added p50 at 500/s"].value == pytest.approx(5.0)
    added = figures["added p99 at 500/s"]
    assert added.value == pytest.approx(5.0)
    assert (added.target, added.at_most, added.verdict) == (25.0, True, "PASS")
    assert figures["end to end p50 at 500/s"].note == "at 500/s"
    assert figures["events without a sandbox time at 500/s"].verdict == "PASS"
    assert [f.name for f in latency_figures(point) if f.target is not None] == [
        "added p99 at 500/s",
        "events without a sandbox time at 500/s",
    ]
    at_100 = {f.name: f for f in latency_figures(_point(100, e2e, sandbox))}
    assert at_100["added p99 at 100/s"].target == targets.EVALUATE_ADDED_P99_MS[100] == 15.0


def test_cpu_per_decline_is_context_and_a_missing_one_shows_as_nan() -> None:
    point = _point(500, [10.0], [5.0])
    point.worker_cpu, point.relay_cpu = 1.4, 0.3
    figures = {f.name: (f.value, f.unit, f.target) for f in latency_figures(point)}
    assert figures["worker CPU per decline at 500/s"] == (1.4, "ms CPU", None)
    assert figures["bare Kafka relay CPU per decline at 500/s"] == (0.3, "ms CPU", None)
    point.broker_cpu, point.relay_broker_cpu = 0.9, 0.5
    figures = {f.name: (f.value, f.unit, f.target) for f in latency_figures(point)}
    assert figures["embedded broker CPU per decline at 500/s"] == (0.9, "ms CPU", None)
    assert figures["bare Kafka relay's run: embedded broker CPU per decline at 500/s"] == (
        0.5,
        "ms CPU",
        None,
    )
    unmeasured = {f.name: f for f in latency_figures(_point(500, [10.0], [5.0]))}
    assert math.isnan(unmeasured["worker CPU per decline at 500/s"].value)
    assert math.isnan(unmeasured["embedded broker CPU per decline at 500/s"].value)


def test_the_first_and_last_fifth_of_a_run_show_a_tail_that_grows_through_it() -> None:
    # ten events in send order, each one's added time 1 ms more than the one before; the relay's
    # steady at 2 ms: a growing tail shows as a last fifth's p50 above the first's
    e2e = [float(10 + i) for i in range(10)]
    point = _point(500, e2e, [9.0] * 10, relay_ms=(2.0,) * 10)
    figures = {f.name: f.value for f in latency_figures(point)}
    assert figures["added p50 in the run's first fifth at 500/s"] == pytest.approx(1.0)
    assert figures["added p50 in the run's last fifth at 500/s"] == pytest.approx(9.0)
    assert figures["bare Kafka relay p50 in the run's first fifth at 500/s"] == 2.0
    assert figures["bare Kafka relay p50 in the run's last fifth at 500/s"] == 2.0
    empty = {f.name: f for f in drift_figures(_point(100, [], []))}
    assert all(math.isnan(f.value) and f.target is None for f in empty.values())


def test_an_event_without_its_sandbox_time_is_counted_and_misses() -> None:
    point = _point(100, [20.0, 30.0, 40.0], [10.0, 10.0])  # E2's call is not in the journal
    assert (point.missing, point.added) == (1, [10.0, 20.0])
    figures = {f.name: f for f in latency_figures(point)}
    assert figures["events without a sandbox time at 100/s"].value == 1
    assert figures["events without a sandbox time at 100/s"].verdict == "MISS"
    nothing = {f.name: f for f in latency_figures(_point(100, [20.0], []))}
    assert math.isnan(nothing["added p99 at 100/s"].value)
    assert nothing["added p99 at 100/s"].verdict == "MISS"


def _measured(seconds: float, cpu: float = 2.0) -> Measured:
    return Measured(seconds, cpu, hwm_quarter=200.0, hwm_end=230.0)


def test_the_mit_figures_hold_the_batch_path_to_the_ceiling_and_the_worker_to_the_batch_path() -> None:
    runs = MitRuns(
        100_000,
        bare=Loop(100_000, 1.0, 0.3),
        ceiling=Loop(100_000, 2.0, 0.5),  # 50,000 events/s
        path_openssh=_measured(4.0),  # 25,000 events/s, 20 µs per record
        path_sandbox=_measured(10.0),
        sandbox_cpu_seconds=3.0,
        worker_openssh=_measured(5.0),  # 20,000 events/s
        floor_us=9.5,
    )
    figures = {f.name: f for f in mit_figures(runs)}
    vs_ceiling = figures["batch path / ceiling, OpenSSH"]
    assert (vs_ceiling.value, vs_ceiling.target, vs_ceiling.verdict) == (0.5, 0.5, "PASS")
    vs_path = figures["full worker / batch path, OpenSSH"]
    assert (vs_path.value, vs_path.target, vs_path.verdict) == (0.8, 0.7, "PASS")
    assert figures["batch path → OpenSSH: CPU per record"].value == 20.0
    assert figures["batch path → OpenSSH: CPU per record"].verdict == "PASS"
    growth = figures["batch path → OpenSSH: peak RSS growth 25 % → 100 %"]
    assert (round(growth.value, 6), growth.verdict, growth.signed) == (15.0, "PASS", True)
    assert figures["batch path → OpenSSH: peak RSS"].target == 300.0
    assert figures["full worker → OpenSSH: peak RSS"].target is None
    assert figures["sandbox CPU per record (SFTP server, Flex's file intake)"].value == 30.0
    assert figures["bare loop ceiling → OpenSSH: CPU per record"].value == 5.0
    floor = figures["floor: JSON decode + PaymentEvent validation, CPU per record"]
    assert (floor.value, floor.target) == (9.5, None)


def test_the_full_worker_is_also_reported_with_its_order_table_caught_up() -> None:
    worker = Measured(5.0, 2.0, 200.0, 230.0, folds=Folds(after_seconds=5.0, cpu_seconds=6.0))
    runs = MitRuns(
        100_000, Loop(100_000, 1.0, 0.3), Loop(100_000, 2.0, 0.5), _measured(4.0), worker_openssh=worker
    )
    figures = {f.name: f for f in mit_figures(runs)}
    assert figures["full worker / batch path, OpenSSH"].value == 0.8  # its uploads alone, as before
    assert figures["full worker: order table caught up after the last upload"].value == 5.0
    assert figures["full worker: CPU per record, its folds done"].value == 60.0
    with_folds = figures["full worker, its folds done / batch path, OpenSSH"]
    assert (with_folds.value, with_folds.target) == (0.4, None)  # 10,000 events/s against 25,000
    without = {
        f.name
        for f in mit_figures(
            MitRuns(1000, runs.bare, runs.ceiling, _measured(1.0), worker_openssh=_measured(2.0))
        )
    }
    assert "full worker: CPU per record, its folds done" not in without


def test_the_floor_decodes_and_validates_every_event_of_the_run() -> None:
    floor = decode_floor(50)  # a run's event that is no valid PaymentEvent would raise here
    assert 0 < floor < math.inf


def test_without_the_worker_run_its_figures_are_left_out() -> None:
    runs = MitRuns(1000, Loop(1000, 1.0, 0.1), Loop(1000, 1.0, 0.1), _measured(1.0))
    names = [f.name for f in mit_figures(runs)]
    assert not any(n.startswith(("full worker", "batch path → sandbox")) for n in names)


def test_the_ceiling_writes_whole_files_and_the_rest_only_at_the_end() -> None:
    records = [str(i).encode() for i in range(5)]
    files, rest = split_files(records, 2, final=False)
    assert files == [b"0\n1\n", b"2\n3\n"]
    assert rest == [b"4"]
    assert split_files(records, 2, final=True) == ([b"0\n1\n", b"2\n3\n", b"4\n"], [])
    assert split_files([], 2, final=True) == ([], [])


def test_a_loop_measures_events_per_second_and_cpu_per_record() -> None:
    loop = Loop(20_000, 2.0, 0.1)
    assert (loop.rate, loop.cpu_us) == (10_000.0, 5.0)


def test_the_hog_takes_the_last_core_and_the_report_says_whether_it_was_on(tmp_path: Path) -> None:
    assert hog_core({0, 1}) == 1
    with cpu_hog(on=False) as core:
        assert core is None
    assert hog_line(None) == "CPU hog: off."
    md = write_results([Figure("start-up", "worker to /ready", 4.0, "s")], tmp_path, cpu_hog=1).read_text()
    assert "CPU hog: on (a busy loop pinned to core 1 beside the whole run)." in md
    assert orjson.loads((tmp_path / "latest.json").read_bytes())["cpu_hog"] == 1


def test_a_latency_chart_of_both_load_points_names_its_three_percentiles() -> None:
    e2e = [float(v) for v in range(1, 101)]
    figures = latency_figures(_point(100, e2e, e2e)) + latency_figures(_point(500, e2e, e2e))
    chart = plan_flow("evaluate", figures)
    assert chart.title.startswith("evaluate: latency in ms at p50, p90 and p99 ")
    latency = chart.panels[0]
    rows = list(dict.fromkeys(b.row for b in latency.bars))
    assert rows[:5] == [
        "end to end at 100/s",
        "sandbox service at 100/s (journal)",
        "sandbox service at 100/s (bare httpx)",
        "bare Kafka relay at 100/s",
        "added at 100/s",
    ]
    assert [text for text, _ in chart.lines] == [
        "added p99 at 100/s: 0 ms — target ≤ 15 ms — PASS",
        "events without a sandbox time at 100/s: 0 events — target ≤ 0 events — PASS",
        "added p99 at 500/s: 0 ms — target ≤ 25 ms — PASS",
        "events without a sandbox time at 500/s: 0 events — target ≤ 0 events — PASS",
    ]
