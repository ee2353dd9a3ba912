"""Printing a replay/redrive plan and result, and the dead-letter summary (rich tables or JSON)."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from streams.ops.dlq import ReasonGroup, by_merchant
from streams.ops.replay import Outcome

__all__ = ["print_groups", "print_outcome", "short_time", "table_console"]

_LISTED = 10  # positions of records with no outcome the closing line names
_PIPED_WIDTH = 200  # columns of a table written to a file or a pipe (rich would cut it at 80)


def table_console() -> Console:
    """Where a verb prints its tables: the terminal's width, or a wide one when piped (| tee, > file)."""
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else _PIPED_WIDTH)


def short_time(iso: str | None) -> str:
    """An ISO 8601 time as a table shows it: to the second, in UTC (``2026-12-06 18:35:44Z``).
    The JSON output keeps the full value; text that is no ISO time is shown as it is."""
    if not iso:
        return "-"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if moment.tzinfo is not None else "")


def _json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


# (column title, key of a partition in the plan); times are left-aligned, numbers right-aligned
_COLUMNS = (
    ("partition", "partition"),
    ("records", "records"),
    ("to send", "toSend"),
    ("finished (skipped)", "finished"),
    ("refused (loop guard)", "refused"),
    ("masked", "masked"),  # these three for a redrive only
    ("omitted", "omitted"),
    ("superseded", "superseded"),
    ("dead-lettered", "deadLettered"),  # these two for an input topic only
    ("no outcome", "noOutcome"),
    ("first offset", "firstOffset"),
    ("last offset", "lastOffset"),
    ("first time", "firstTime"),
    ("last time", "lastTime"),
)


_REDRIVE_ONLY = ("masked", "omitted", "superseded")  # verdicts only a redrive gives


def print_outcome(outcome: Outcome, *, as_json: bool) -> None:
    plan = outcome.plan.as_dict()
    result = {**plan, "executed": outcome.executed, "interrupted": outcome.interrupted, **outcome.counts()}
    if as_json:
        _json(result)
        return
    console = table_console()
    console.print(_plan_table(plan))
    console.print(_closing_line(outcome, plan))


def _plan_table(plan: dict[str, Any]) -> Table:
    table = Table(
        title=f"{plan['action']} {plan['replayId']}: {plan['selection']['topic']} → "
        f"{', '.join(plan['targets']) or '(nothing)'}"
    )
    t = plan["totals"]
    redrive = plan["action"] == "redrive"
    columns = [
        (title, key)
        for title, key in _COLUMNS
        if t.get(key, "") is not None and (redrive or key not in _REDRIVE_ONLY)
    ]
    forced = plan["options"]["force"]
    for title, key in columns:
        title = "finished (sent again)" if key == "finished" and forced else title
        table.add_column(title, justify="left" if "time" in title else "right")
    for p in plan["partitions"]:
        table.add_row(*(_cell(key, p[key]) for _, key in columns))
    table.add_row("total", *(str(t[key]) if key in t else "" for _, key in columns[1:]))
    return table


def _cell(key: str, value: Any) -> str:
    if key.endswith("Time"):
        return short_time(value)
    return "-" if value is None else str(value)


def _closing_line(outcome: Outcome, plan: dict[str, Any]) -> str:
    if outcome.interrupted:
        return (
            f"interrupted after {outcome.sent} sent; continue with: "
            f"flexbridge {_verb(plan)} --resume {plan['replayId']} --execute"
        )
    t = plan["totals"]
    masked = (
        f" {t['masked']} dead letters are never sent again: they hold card data masked (pan-detected,"
        " or dlq-masked); a pan-detected event's producer sends it anew with a Flex token, any other"
        " is replayed from its dlq-source position."
        if t["masked"]
        else ""
    )
    if t["omitted"]:
        masked += (
            f" {t['omitted']} dead letters hold no value (too large for the DLQ, dlq-omitted): replay"
            " each from its dlq-source position instead."
        )
    if t["superseded"]:
        masked += (
            f" {t['superseded']} dead letters are superseded: their record was sent again since and"
            " dead-lettered again, and that later dead letter is the one a redrive sends."
        )
    if outcome.executed:
        return (
            f"sent {outcome.sent} (already sent before: {outcome.already_sent}) "
            f"in {outcome.seconds:.1f} s; audit on the audit topic under {plan['replayId']}.{masked}"
        )
    if outcome.already_sent:  # a resume's dry run
        return (
            f"dry run: {t['toSend'] - outcome.already_sent} of {t['toSend']} records left to send "
            f"({outcome.already_sent} already sent under {plan['replayId']}).{masked} Add --execute to send."
        )
    return (
        f"dry run: {t['toSend']} records would be sent ({_finished(plan)}).{masked} "
        f"{_outcomes(plan)}Add --execute to send."
    )


def _finished(plan: dict[str, Any]) -> str:
    """What becomes of the records already finished: skipped, or with ``--force`` processed again."""
    if plan["options"]["force"]:
        return f"{plan['totals']['finished']} already finished: --force has them processed again"
    return f"{plan['totals']['finished']} already finished: the pipeline skips them unless --force"


def _outcomes(plan: dict[str, Any]) -> str:
    """For an input topic: how many records have no outcome, and where the first are."""
    t = plan["totals"]
    if plan["outcomesNotCounted"]:
        return (
            f"Outcomes not counted: {'; '.join(plan['outcomesNotCounted'])} (is the setting the "
            "workers' one?). "
        )
    if t["noOutcome"] is None:
        return ""
    if not t["noOutcome"] and plan["options"].get("withoutOutcome"):
        return "No record of the window is without an outcome. "  # the others were filtered out
    if not t["noOutcome"]:
        return f"Every record has an outcome ({t['deadLettered']} dead-lettered). "
    where = [f"{p['partition']}:{o}" for p in plan["partitions"] for o in p["noOutcomeOffsets"]]
    more = "…" if len(where) > _LISTED or len(where) < t["noOutcome"] else ""
    return (
        f"{t['noOutcome']} have no outcome, not finished, answered or dead-lettered (partition:offset "
        f"{', '.join(where[:_LISTED])}{more}): a worker is still on them, or they were lost. "
    )


def _verb(plan: dict[str, Any]) -> str:
    return "replay" if plan["action"] == "replay" else "dlq redrive"


def _merchant_table(merchants: dict[str, Counter[str]]) -> Table:
    table = Table(title="dead letters by merchant")
    for name in ("merchant", "count", "reasons"):
        table.add_column(name)
    for merchant, reasons in merchants.items():
        table.add_row(
            merchant, str(reasons.total()), ", ".join(f"{r} ({n})" for r, n in reasons.most_common())
        )
    return table


def print_groups(groups: list[ReasonGroup], *, as_json: bool) -> None:
    merchants = by_merchant(groups)
    if as_json:
        by = {m: {"count": r.total(), "reasons": dict(r)} for m, r in merchants.items()}
        _json(
            {"reasons": [g.as_dict() for g in groups], "merchants": by, "total": sum(g.count for g in groups)}
        )
        return
    table = Table(title="dead letters by reason")
    for name in ("reason", "count", "source topics", "first failed", "last failed", "latest"):
        table.add_column(name)
    for g in groups:
        sources = ", ".join(f"{t} ({n})" for t, n in g.sources.most_common())
        table.add_row(
            g.reason,
            str(g.count),
            sources,
            short_time(g.first_failed_at),
            short_time(g.last_failed_at),
            g.example or "-",
        )
    console = table_console()
    console.print(table)
    console.print(_merchant_table(merchants))
    print(f"total {sum(g.count for g in groups)}; inspect one with: flexbridge dlq show PARTITION:OFFSET")
