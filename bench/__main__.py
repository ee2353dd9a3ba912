"""``python -m bench``: every benchmark on one embedded stack; prints figures next to their targets."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.commands import bench_commands
from bench.common import Figure
from bench.evaluate import bench_evaluate
from bench.hog import cpu_hog
from bench.merchants import bench_merchants
from bench.mit import bench_mit
from bench.report import hog_line, write_results
from bench.startup import bench_startup
from bench.transmit import bench_transmit
from bench.webhooks import SUBSCRIBER_KEY, bench_webhooks
from streams.local.procs import crash_lines
from streams.local.stack import LocalStack

TOPICS = {name: f"bench.{name}" for name in ("approved", "declined", "commands", "status", "webhooks", "dlq")}


def _table(figures: list[Figure]) -> Table:
    table = Table(title="flexbridge benchmark")
    for column in ("flow", "figure", "value", "target", "verdict"):
        table.add_column(column, justify="right" if column in ("value", "target") else "left")
    for f in figures:
        target = "" if f.target is None else ("≤ " if f.at_most else "≥ ") + f"{f.target:g}"
        colour = {"PASS": "green", "MISS": "red"}.get(f.verdict, "")
        verdict = f"[{colour}]{f.verdict}[/{colour}]" if colour else ""
        table.add_row(f.flow, f.name, f"{f.value:,.2f} {f.unit}", target, verdict)
    return table


async def _run(args: argparse.Namespace, console: Console, hog: int | None) -> list[Figure]:
    figures: list[Figure] = []
    workdir = Path(args.workdir)  # absolute (main): OpenSSH resolves SFTP folders from the home
    async with LocalStack(workdir, group="bench") as stack:
        await stack.start_sandbox()
        stack.env.update({f"FLEXBRIDGE_TOPICS__{k.upper()}": v for k, v in TOPICS.items()})
        stack.env["FLEXBRIDGE_TOPICS__LEDGER"] = "bench.ledger"
        stack.env["FLEXBRIDGE_ROUTING__MIT"] = "api"
        stack.env["FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY"] = SUBSCRIBER_KEY
        worker = await stack.start_worker()
        steps: dict[str, Callable[[], Awaitable[list[Figure]]]] = {
            "transmit": lambda: bench_transmit(stack, worker, TOPICS["approved"], args.transmit_events),
            "evaluate": lambda: bench_evaluate(stack, worker, TOPICS, args.evaluate_seconds, hog is not None),
            "webhooks": lambda: bench_webhooks(stack, worker, TOPICS["webhooks"], args.webhooks),
            "commands": lambda: bench_commands(stack, args.commands),
            "startup": lambda: bench_startup(stack),
            # on a stack of its own: a sandbox serving 500 merchants
            "merchants": lambda: bench_merchants(workdir, args.merchant_events),
            # last: it starts a full sandbox
            "mit": lambda: bench_mit(stack, args.mit_events, worker=not args.mit_path_only),
        }
        for name, step in steps.items():
            if args.only and name not in args.only:
                continue
            started = time.monotonic()
            with console.status(f"benchmark: {name}…"):
                try:
                    figures += await step()
                except Exception as exc:  # one broken benchmark must not hide the others' figures  # noqa: BLE001
                    console.print(f"[red]{name} failed: {type(exc).__name__}: {exc}[/red]")
            console.print(f"{name}: {time.monotonic() - started:.0f} s")
    return figures


def _crashes(workdir: Path, since: float) -> list[str]:
    """The lines of this run's logs (written since ``since``, every stack's) telling of an agent or a
    task that crashed inside a worker: a bug no figure shows."""
    logs = sorted(p for p in workdir.rglob("*.log") if p.stat().st_mtime >= since)
    return [line for p in logs for line in crash_lines(p, str(p.relative_to(workdir)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only", nargs="*", help="run only these: transmit evaluate webhooks commands startup merchants mit"
    )
    parser.add_argument("--transmit-events", type=int, default=6000)
    parser.add_argument("--evaluate-seconds", type=int, default=15, help="at each load point")
    parser.add_argument("--merchant-events", type=int, default=2000, help="approvals per merchants run")
    parser.add_argument("--mit-events", type=int, default=80_000)
    parser.add_argument("--mit-path-only", action="store_true", help="skip the full-worker MIT run")
    parser.add_argument("--webhooks", type=int, default=20_000, help="signed webhooks per target")
    parser.add_argument(
        "--commands", type=int, default=400, help="cancels through 16 at once (a quarter one at a time)"
    )
    parser.add_argument("--cpu-hog", action="store_true", help="a busy loop on one core beside the whole run")
    parser.add_argument("--workdir", default=".bench")
    parser.add_argument(
        "--out",
        default="bench/results",
        help="folder for latest.json, latest.md and one chart per flow (python -m bench.report --from "
        "DIR/latest.json draws them again)",
    )
    args = parser.parse_args(argv)
    args.workdir = str(Path(args.workdir).resolve())
    console = Console()
    started = time.time()
    with cpu_hog(args.cpu_hog) as hog:
        figures = asyncio.run(_run(args, console, hog))
    console.print(_table(figures))
    console.print(hog_line(hog))
    console.print(f"written: {write_results(figures, Path(args.out), hog)}")
    crashed = _crashes(Path(args.workdir), started)
    for line in crashed:
        console.print(line, style="red", markup=False, highlight=False)
    console.print(f"agents or tasks crashed in the workers: {len(crashed)}", style="red" if crashed else None)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
