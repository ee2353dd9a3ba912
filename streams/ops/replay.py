"""Run a replay or a redrive: plan it, and with ``execute`` send it, rate-limited, audited, resumable.

Resume never re-sends: the ``started`` audit record keeps the fixed source ranges and the end
offsets of every target topic at the start, so a resumed run reads what this replay id already
wrote there (each record names its origin in ``replay-of``) and sends only the rest — exact even
after a SIGKILL between a send and a checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.settings import Settings
from streams.kafka.clients import make_producer, started
from streams.ops.audit import Audit, Phase
from streams.ops.outcomes import Outcomes
from streams.ops.plan import Job, Plan, build_plan, verdict
from streams.ops.scan import (
    Ranges,
    Record,
    end_offsets,
    open_reader,
    resolve_ranges,
    scan,
    target_topic,
)
from streams.ops.selection import provenance_headers

__all__ = ["Outcome", "run_job"]

_CHECKPOINT_EVERY = 2.0  # seconds between progress records on the audit topic
_BURST_SECONDS = 0.1  # --rate's bucket: at most this much of the rate sent at once after a wait


@dataclass
class Outcome:
    plan: Plan
    executed: bool = False
    sent: int = 0
    already_sent: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        rate = None
        if self.sent > 1 and self.seconds > 0:
            rate = round(self.sent / self.seconds, 2)
        return {
            "sent": self.sent,
            "alreadySent": self.already_sent,
            "seconds": round(self.seconds, 3),
            "rate": rate,
        }


class _Stop:
    """SIGINT/SIGTERM stop the sending loop between records, so the audit trail stays complete."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        sigs = (signal.SIGINT, signal.SIGTERM)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            for sig in sigs:
                loop.add_signal_handler(sig, self.event.set)
        try:
            yield
        finally:
            for sig in sigs:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)


async def _already_sent(settings: Settings, replay_id: str, start: dict[str, dict[str, int]]) -> set[str]:
    """The ``replay-of`` origins this replay id already wrote to its targets (since it started).

    Read read_uncommitted: what a replay wrote (never in a transaction) behind an upstream
    producer's transaction still open in a target lies past the last stable offset, and a record
    missed here would be sent twice.
    """
    done: set[str] = set()
    marker = replay_id.encode()
    reader = await open_reader(settings, read_uncommitted=True)
    try:
        for topic, offsets in start.items():
            ends = await end_offsets(reader, topic)
            ranges: Ranges = {int(p): (off, ends.get(int(p), off)) for p, off in offsets.items()}
            async for record in scan(reader, topic, ranges):
                headers = dict(record.headers or ())
                origin = headers.get("replay-of")
                if headers.get("replay-id") == marker and origin is not None:
                    done.add(origin.decode())
    finally:
        await reader.stop()
    return done


def _origin(record: Record) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


class _Runner:
    def __init__(self, settings: Settings, job: Job, console: Console) -> None:
        self.settings = settings
        self.job = job
        self.console = console
        self.stop = _Stop()
        self._tokens = 1.0  # records that may be sent now under --rate (see _pace)
        self._refilled: float | None = None  # when _tokens was last brought up to date
        self._outcomes: Outcomes | None = None  # loaded with the plan

    async def run(self, execute: bool, resume: dict[str, Any] | None) -> Outcome:
        reader = await open_reader(self.settings)
        try:
            producer = await started(make_producer(self.settings.kafka))
        except BaseException:
            await reader.stop()
            raise
        try:
            return await self._run(reader, producer, execute, resume)
        finally:
            await producer.stop()
            await reader.stop()

    async def _run(
        self,
        reader: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        execute: bool,
        resume: dict[str, Any] | None,
    ) -> Outcome:
        if self.job.to_topic:
            await target_topic(reader, self.job.to_topic)
        if resume is not None:
            ranges: Ranges = {int(p): (a, b) for p, (a, b) in resume["ranges"].items()}
        else:
            ranges = await resolve_ranges(reader, self.job.selection)
        self._outcomes = Outcomes(self.settings, producer)
        await self._outcomes.load(reader, self.job.selection, ranges)
        plan = await build_plan(self.job, reader, ranges, self._outcomes)
        outcome = Outcome(plan)
        done: set[str] = set()
        if resume is not None:  # a dry run of a resume says how much is left, too
            target_start = resume["targetStart"]
            done = await _already_sent(self.settings, self.job.replay_id, target_start)
            outcome.already_sent = len(done)
        if not execute:
            return outcome
        audit = Audit(self.settings, producer, self.job.action, self.job.replay_id)
        await audit.ensure()
        if resume is None:
            target_start = {
                t: {str(p): o for p, o in (await end_offsets(reader, t)).items()} for t in plan.targets
            }
            fields = plan.as_dict()
            await audit.write(
                "started",
                ranges={str(p): list(r) for p, r in ranges.items()},
                targetStart=target_start,
                plan=fields,
            )
        outcome.executed = True
        with self.stop.installed():
            await self._send_all(reader, producer, audit, outcome, done)
        phase: Phase = "interrupted" if outcome.interrupted else "finished"
        await audit.write(phase, counts=outcome.counts(), totals=plan.as_dict()["totals"])
        return outcome

    async def _send_all(
        self,
        reader: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        audit: Audit,
        outcome: Outcome,
        done: set[str],
    ) -> None:
        job, total = self.job, outcome.plan.to_send
        started = time.monotonic()
        last_checkpoint, pending = started, []
        with _progress(self.console) as bar:
            task = bar.add_task(job.action, total=total, completed=len(done))
            async for record in scan(reader, job.selection.topic, outcome.plan.ranges):
                if self.stop.event.is_set():
                    outcome.interrupted = True
                    break
                if verdict(job, record, self._outcomes) != "send" or _origin(record) in done:
                    continue
                await self._pace()
                if self.stop.event.is_set():
                    outcome.interrupted = True
                    break
                pending.append(await self._send(producer, record))
                outcome.sent += 1
                bar.advance(task)
                if time.monotonic() - last_checkpoint >= _CHECKPOINT_EVERY:
                    await asyncio.gather(*pending)
                    pending, last_checkpoint = [], time.monotonic()
                    outcome.seconds = last_checkpoint - started
                    await audit.write("progress", counts=outcome.counts())
            await asyncio.gather(*pending)
        outcome.seconds = time.monotonic() - started

    async def _pace(self) -> None:
        """Wait for the next send under ``--rate``: a token bucket holding at most
        :data:`_BURST_SECONDS` of the rate (one record at least), so a late start (the broker holds
        the scan's first fetch) or a busy moment is not made up for by a burst above the rate."""
        rate = self.job.rate
        if not rate:
            return
        capacity = max(1.0, rate * _BURST_SECONDS)
        now = time.monotonic()
        self._tokens = min(capacity, self._tokens + (now - (self._refilled or now)) * rate)
        self._refilled = now
        if self._tokens < 1:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.event.wait(), (1 - self._tokens) / rate)
            now = time.monotonic()
            self._tokens = min(capacity, self._tokens + (now - self._refilled) * rate)
            self._refilled = now
        self._tokens -= 1

    async def _send(self, producer: AIOKafkaProducer, record: Record) -> asyncio.Future[Any]:
        job = self.job
        headers = provenance_headers(
            list(record.headers or ()),
            origin=_origin(record),
            replay_id=job.replay_id,
            force=job.force,
            strip_dlq=job.action == "redrive",
        )
        target = job.target_of(record)
        assert target is not None  # verdict "send" guarantees it  # noqa: S101
        future: asyncio.Future[Any] = await producer.send(
            target, record.value, record.key, partition=job.partition_of(record), headers=headers
        )
        return future


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


async def run_job(
    settings: Settings,
    job: Job,
    *,
    execute: bool,
    resume: dict[str, Any] | None = None,
    console: Console | None = None,
) -> Outcome:
    """Plan ``job``; with ``execute``, send it (continuing ``resume``, a ``started`` audit record)."""
    return await _Runner(settings, job, console or Console(stderr=True)).run(execute, resume)
