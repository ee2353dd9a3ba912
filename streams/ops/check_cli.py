"""``flexbridge check``: run the preflight and print one line per check (a rich table, or JSON).

Exit status 0 only when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from core.merchants import Merchants
from core.settings import Settings
from streams.ops.check import CheckResult, settings_checks

__all__ = ["add_check_parser", "print_checks", "run_checks"]


def add_check_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check", help="preflight: the settings, Kafka, Flex, SFTP and webhook keys; exit 0 only when all pass"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(run=_check)


def _check(args: argparse.Namespace) -> int:
    settings, served, results = settings_checks()
    if settings is not None and all(r.ok for r in results):
        results += asyncio.run(run_checks(settings, served))
    print_checks(results, as_json=args.json)
    return 0 if all(r.ok for r in results) else 1


async def run_checks(settings: Settings, served: Merchants | None) -> list[CheckResult]:
    """Every check after the settings: Kafka, Flex (per merchant), SFTP when routed to (each
    merchant's account with a merchants file), webhook keys; ``served`` are the merchants the
    settings check loaded (None without a file). Their clients (aiokafka, httpx, asyncssh) are
    imported here, not by every other verb's parser."""
    from streams.ops.check_flex import flex_checks
    from streams.ops.check_kafka import kafka_checks
    from streams.ops.check_sftp import sftp_checks
    from streams.ops.check_sftp_merchants import merchant_sftp_checks
    from streams.ops.check_webhooks import webhook_checks

    results = await kafka_checks(settings)
    results += await flex_checks(settings, served)
    if served is not None:
        results += await merchant_sftp_checks(settings, served)
    else:
        results += await sftp_checks(settings)
    results += webhook_checks(settings, served)
    return results


def print_checks(results: list[CheckResult], *, as_json: bool) -> None:
    ok = all(r.ok for r in results)
    if as_json:
        data = {"ok": ok, "checks": [r.as_dict() for r in results]}
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from rich.table import Table

    from streams.ops.view import table_console

    table = Table(title="flexbridge check")
    for column in ("check", "result", "detail", "setting", "fix"):
        table.add_column(column, overflow="fold")
    for r in results:
        result = "[green]PASS[/green]" if r.ok else "[bold red]FAIL[/bold red]"
        table.add_row(r.name, result, r.detail, r.setting or "", r.fix or "")
    console = table_console()
    console.print(table)
    failed = sum(not r.ok for r in results)
    console.print("all checks passed" if ok else f"{failed} check(s) failed")
