"""The demo's traffic driver and what it shows: live progress bars and the reconciliation table."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.settings import KafkaSettings, TopicSettings
from streams.kafka.clients import make_consumer
from streams.local.reconciliation import Observed, Reconciliation, read_batch_transmits, reconcile
from streams.local.traffic import Planned

__all__ = ["Monitor", "lifecycle_table", "merchants_table", "progress", "summary_table"]

RATE = 200  # events published per second


def progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
    )


class Monitor:
    """Publishes planned events and follows what comes out. ``outbound``: each merchant's outbound
    folder on the sandbox's disk (``mid`` -> folder), where Flex answers ``transmit_`` batch files."""

    def __init__(
        self, bootstrap: str, http: httpx.AsyncClient, outbound: Mapping[str, Path] | None = None
    ) -> None:
        self._http = http
        self._outbound = dict(outbound or {})
        self._topics = TopicSettings()
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5)
        self._consumer = make_consumer(KafkaSettings(bootstrap_servers=bootstrap), offset_reset="latest")
        self._seen = Observed(journal=[], statuses=[], dead_letters=[])
        self._since = 0

    async def __aenter__(self) -> Monitor:
        await self._producer.start()
        await self._consumer.start()
        tps = []
        for topic in (self._topics.status, self._topics.dlq):
            parts = await self._producer.partitions_for(topic)
            tps += [TopicPartition(topic, p) for p in parts]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self._producer.stop()
        await self._consumer.stop()

    async def publish_and_watch(self, planned: list[Planned], bars: Progress, deadline: float) -> None:
        sent = bars.add_task("published", total=len(planned), note="")
        done = bars.add_task("accounted for", total=len(planned), note="")
        publisher = asyncio.create_task(self._publish(planned, bars, sent))
        try:
            while time.monotonic() < deadline:
                await self._poll()
                result = reconcile(planned, self._seen)
                bars.update(done, completed=result.accounted, note=self._note())
                if publisher.done() and result.accounted == len(planned):
                    break
                await asyncio.sleep(0.5)
        finally:
            await publisher

    async def watch(
        self, bars: Progress, label: str, total: int, count: Callable[[Observed], int], deadline: float
    ) -> int:
        """Poll until ``count`` of what was seen reaches ``total`` (or the deadline); the last count."""
        task = bars.add_task(label, total=total, note="")
        done = 0
        while time.monotonic() < deadline:
            await self._poll()
            done = count(self._seen)
            bars.update(task, completed=done, note=self._note())
            if done >= total:
                break
            await asyncio.sleep(0.5)
        return done

    async def observed(self) -> Observed:
        await self._poll()
        return self._seen

    def _note(self) -> str:
        transmits = len(self._seen.batch_transmits) + sum(
            1 for c in self._seen.journal if c.get("path") == "/v1/transmit" and c.get("status") == 200
        )
        return (
            f"transmits {transmits} · statuses {len(self._seen.statuses)} · "
            f"dead letters {len(self._seen.dead_letters)} · Flex calls {len(self._seen.journal)}"
        )

    async def _publish(self, planned: list[Planned], bars: Progress, task: Any) -> None:
        start = time.monotonic()
        for i, p in enumerate(planned):
            topic = getattr(self._topics, p.topic)  # approved | declined | commands
            await self._producer.send(topic, p.value, p.key.encode())
            bars.advance(task)
            ahead = (i + 1) / RATE - (time.monotonic() - start)
            if ahead > 0:
                await asyncio.sleep(ahead)  # pacing the traffic, not waiting for a result
        await self._producer.flush()

    async def _poll(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=100)
        for tp, records in batches.items():
            for r in records:
                if tp.topic == self._topics.status and r.value is not None:
                    self._seen.statuses.append(orjson.loads(r.value))
                elif tp.topic == self._topics.dlq:
                    reason = dict(r.headers).get("dlq-reason", b"?").decode()
                    self._seen.dead_letters.append(((r.key or b"").decode(), reason))
        if self._outbound:
            self._seen.batch_transmits = await asyncio.to_thread(read_batch_transmits, self._outbound)
        answer = await self._http.get("/_sandbox/requests", params={"since": self._since})
        calls = answer.json()["requests"]
        if calls:
            self._seen.journal.extend(calls)
            self._since = max(int(c["seq"]) for c in calls)


def summary_table(result: Reconciliation, retries: int, seconds: float) -> Table:
    verdict = "[green]RECONCILED[/green]" if result.ok else "[red]NOT RECONCILED[/red]"
    table = Table(
        title=f"flexbridge demo — {verdict} — {result.accounted}/{result.published} events "
        f"accounted for in {seconds:.0f} s",
        show_footer=False,
    )
    for col in ("kind", "expected outcome", "published", "matched", "wrong", "missing"):
        table.add_column(col, justify="left" if col in ("kind", "expected outcome") else "right")
    for row in result.rows.values():
        style = "" if row.matched == row.published else "red"
        table.add_row(
            row.kind,
            row.expect,
            str(row.published),
            str(row.matched),
            str(row.wrong),
            str(row.missing),
            style=style,
        )
    table.caption = (
        f"duplicate Flex effects: {result.duplicate_effects} · duplicate statuses: "
        f"{result.duplicate_statuses} · Flex retries by the worker: {retries}"
    )
    return table


def merchants_table(results: Mapping[str, Reconciliation], routes: Mapping[str, tuple[str, str]]) -> Table:
    """Each merchant reconciled on its own, against what Flex saw under its MID. ``routes``: how each
    merchant's MIT declines and approvals reach Flex (``("sftp", "api")``)."""
    table = Table(title="per merchant — against what Flex saw under its own MID")
    for col in ("merchant", "MIT by", "transmit", "events", "accounted", "dup.", "verdict"):
        table.add_column(col, justify="right" if col in ("events", "accounted", "dup.") else "left")
    for name, result in results.items():
        mit, transmit = routes.get(name, ("-", "-"))
        verdict = "[green]RECONCILED[/green]" if result.ok else "[red]NOT RECONCILED[/red]"
        duplicates = result.duplicate_effects + result.duplicate_statuses
        table.add_row(
            name, mit, transmit, str(result.published), str(result.accounted), str(duplicates), verdict
        )
    table.caption = (
        "accounted: the events with the outcome they should have; dup.: Flex effects or statuses seen twice"
    )
    return table


def _files_by_merchant(batches: list[dict[str, Any]]) -> str:
    files = Counter(f"{b.get('merchant', '?')} {b.get('kind', '?')}" for b in batches)
    return " · ".join(f"{what}: {n}" for what, n in sorted(files.items())) or "-"


def lifecycle_table(
    batches: list[dict[str, Any]], outcomes: Counter[str], mit: int, orders: Reconciliation
) -> Table:
    """MIT rebills and approvals through SFTP batches, MIT outcomes by webhook, then the commands."""
    table = Table(title="order life cycle — SFTP batches, webhooks, commands")
    table.add_column("what")
    table.add_column("result", justify="right")
    records = [int(b.get("records", 0)) for b in batches]
    table.add_row("batch files uploaded over SFTP", str(len(batches)))
    table.add_row("  by merchant and kind", _files_by_merchant(batches))
    table.add_row("records per file", ", ".join(map(str, records)) or "-")
    table.add_row("MIT by SFTP: a final status by webhook", f"{sum(outcomes.values())}/{mit}")
    for status, n in sorted(outcomes.items()):
        table.add_row(f"  {status} (order.{'completed' if status == 'APPROVED' else 'expired'})", str(n))
    for row in orders.rows.values():
        ok = row.matched == row.published
        table.add_row(
            f"command {row.kind} → {row.expect}", f"{row.matched}/{row.published}", style="" if ok else "red"
        )
    return table
