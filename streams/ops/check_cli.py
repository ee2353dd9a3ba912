"""``flexbridge check``: run the preflight and print one line per check (a rich table, or JSON).

Exit status 0 only when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from streams.ops.check import CheckResult, run_checks, settings_checks

__all__ = ["add_check_parser", "print_checks"]


def add_check_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check", help="preflight: the settings, Kafka, Flex, SFTP and webhook keys; exit 0 only when all pass"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(run=_check)


def _check(args: argparse.Namespace) -> int:
    settings, results = settings_checks()
    if settings is not None and all(r.ok for r in results):
        results += asyncio.run(run_checks(settings))
    print_checks(results, as_json=args.json)
    return 0 if all(r.ok for r in results) else 1


def print_checks(results: list[CheckResult], *, as_json: bool) -> None:
    ok = all(r.ok for r in results)
    if as_json:
        data = {"ok": ok, "checks": [r.as_dict() for r in results]}
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="flexbridge check")
    for column in ("check", "result", "detail", "setting", "fix"):
        table.add_column(column, overflow="fold")
    for r in results:
        result = "[green]PASS[/green]" if r.ok else "[bold red]FAIL[/bold red]"
        table.add_row(r.name, result, r.detail, r.setting or "", r.fix or "")
    console = Console(soft_wrap=True)
    console.print(table)
    failed = sum(not r.ok for r in results)
    console.print("all checks passed" if ok else f"{failed} check(s) failed")
