"""The MIT batch figures from what the runs measured (pure: no I/O), with their targets.

Runs, on one topic of managed-MIT declines: a bare ``getmany`` loop; the per-record floor (decoding
and validating each event); the ceiling (a bare loop reading, writing files of 2,000 and uploading
them to OpenSSH); the batch path alone against OpenSSH (the figures against the targets); the full
worker against OpenSSH; the batch path alone against the sandbox (whose SFTP server and file intake
share the machine)."""

from __future__ import annotations

from dataclasses import dataclass

from bench import targets
from bench.common import Figure, ratio
from bench.mit_ceiling import Loop

__all__ = ["Folds", "Measured", "MitRuns", "mit_figures", "run_figures"]

FLOW = "mit batch"


@dataclass(frozen=True)
class Folds:
    """A full worker's order table after its run: how long after the last upload it had every
    record's ``PENDING`` status, and the worker's CPU seconds from the run's start until then."""

    after_seconds: float
    cpu_seconds: float


@dataclass(frozen=True)
class Measured:
    """One batch run: seconds on the clock, CPU seconds of its process, peak RSS at 25 % and 100 %
    (and, for a full worker, its folds)."""

    seconds: float
    cpu_seconds: float
    hwm_quarter: float
    hwm_end: float
    folds: Folds | None = None

    def rate(self, count: int) -> float:
        return count / self.seconds if self.seconds > 0 else float("nan")

    def growth_pct(self) -> float:
        return (ratio(self.hwm_end, self.hwm_quarter) - 1) * 100


@dataclass(frozen=True)
class MitRuns:
    count: int
    bare: Loop
    ceiling: Loop
    path_openssh: Measured
    path_sandbox: Measured | None = None
    sandbox_cpu_seconds: float = float("nan")  # the sandbox's over the batch path's run against it
    worker_openssh: Measured | None = None
    floor_us: float = float("nan")  # CPU per record of decoding and validating the events alone


def run_figures(what: str, count: int, run: Measured, with_targets: bool) -> list[Figure]:
    """events/s, CPU per record, peak RSS (at 25 % too) and its growth of one batch run."""
    cpu = run.cpu_seconds / count * 1e6
    t = with_targets
    return [
        Figure(FLOW, what, run.rate(count), "events/s"),
        Figure(
            FLOW,
            f"{what}: CPU per record",
            cpu,
            "µs",
            target=targets.MIT_CPU_PER_RECORD_US if t else None,
            at_most=True,
            note="user + system, whole process",
        ),
        Figure(
            FLOW,
            f"{what}: peak RSS",
            run.hwm_end,
            "MB",
            target=targets.MIT_PEAK_RSS_MB if t else None,
            at_most=True,
        ),
        Figure(FLOW, f"{what}: peak RSS at 25 % of events", run.hwm_quarter, "MB"),
        Figure(
            FLOW,
            f"{what}: peak RSS growth 25 % → 100 %",
            run.growth_pct(),
            "%",
            target=targets.MIT_PEAK_RSS_GROWTH_PCT if t else None,
            at_most=True,
            # a peak cannot fall, but Linux sums its RSS counters per CPU lazily: seen at -0.12 %
            signed=True,
        ),
    ]


def _baselines(runs: MitRuns) -> list[Figure]:
    return [
        Figure(
            FLOW, "bare getmany loop", runs.bare.rate, "events/s", note=f"{runs.count} events, files of 2000"
        ),
        Figure(FLOW, "bare getmany loop: CPU per record", runs.bare.cpu_us, "µs"),
        Figure(FLOW, "bare loop ceiling → OpenSSH (read, files, upload)", runs.ceiling.rate, "events/s"),
        Figure(FLOW, "bare loop ceiling → OpenSSH: CPU per record", runs.ceiling.cpu_us, "µs"),
        Figure(
            FLOW,
            "floor: JSON decode + PaymentEvent validation, CPU per record",
            runs.floor_us,
            "µs",
            note="orjson + pydantic, garbage collection off",
        ),
    ]


def mit_figures(runs: MitRuns) -> list[Figure]:
    """Every MIT figure: the baselines, each run, and the ratios against their targets."""
    n = runs.count
    path = runs.path_openssh.rate(n)
    figures = _baselines(runs) + run_figures("batch path → OpenSSH", n, runs.path_openssh, with_targets=True)
    figures.append(
        Figure(
            FLOW,
            "batch path / ceiling, OpenSSH",
            ratio(path, runs.ceiling.rate),
            "x",
            target=targets.MIT_PATH_VS_CEILING,
        )
    )
    if runs.worker_openssh is not None:
        figures += _worker_figures(n, runs.worker_openssh, path)
    if runs.path_sandbox is not None:
        figures += run_figures("batch path → sandbox", n, runs.path_sandbox, with_targets=False)[:2]
        sandbox_cpu = runs.sandbox_cpu_seconds / n * 1e6
        figures += [
            Figure(FLOW, "sandbox CPU per record (SFTP server, Flex's file intake)", sandbox_cpu, "µs"),
            Figure(FLOW, "batch path → sandbox / → OpenSSH", ratio(runs.path_sandbox.rate(n), path), "x"),
        ]
    return figures


def _worker_figures(n: int, worker: Measured, path_rate: float) -> list[Figure]:
    """The full worker's run, against the batch path alone; and the same with its folds done."""
    figures = run_figures("full worker → OpenSSH", n, worker, with_targets=False)
    figures.append(
        Figure(
            FLOW,
            "full worker / batch path, OpenSSH",
            ratio(worker.rate(n), path_rate),
            "x",
            target=targets.MIT_WORKER_VS_PATH,
        )
    )
    folds = worker.folds
    if folds is None:
        return figures
    with_folds = n / (worker.seconds + folds.after_seconds)
    cpu = folds.cpu_seconds / n * 1e6
    note = "until its order table has every record's PENDING status"
    return [
        *figures,
        Figure(FLOW, "full worker: order table caught up after the last upload", folds.after_seconds, "s"),
        Figure(FLOW, "full worker: CPU per record, its folds done", cpu, "µs", note=note),
        Figure(FLOW, "full worker, its folds done / batch path, OpenSSH", ratio(with_folds, path_rate), "x"),
    ]
