"""The plan of a replay or redrive: what a first pass over the window finds, before anything is sent.

Per partition: the records selected, their first/last offsets and times, how many the pipeline has
already finished (and would skip unless forced), and how many the loop guard refuses. The plan's
``to_send`` is exactly what ``--execute`` sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from core.settings import Settings
from schemas.dlq import DLQ_REASON, MASKED_HEADER, OMITTED_HEADER
from streams.ops.scan import Ranges, Record, ReplayError, partitions_of, scan
from streams.ops.selection import Selection, matches, replay_count
from streams.runtime.ledger import Ledger

__all__ = ["Finished", "Job", "PartitionPlan", "Plan", "Verdict", "build_plan", "verdict"]

Verdict = Literal["filtered", "refused", "masked", "omitted", "no-target", "send"]


@dataclass(frozen=True)
class Job:
    """One replay (``action="replay"``) or redrive of dead letters (``action="redrive"``)."""

    action: Literal["replay", "redrive"]
    selection: Selection
    replay_id: str
    to_topic: str | None = None  # replay: default the source topic; redrive: default dlq-source-topic
    rate: float | None = None  # records per second
    force: bool = False
    max_replays: int = 3

    def target_of(self, record: Record) -> str | None:
        if self.to_topic:
            return self.to_topic
        if self.action == "replay":
            return self.selection.topic
        source = dict(record.headers or ()).get("dlq-source-topic")
        return source.decode(errors="replace") if source else None

    def partition_of(self, record: Record) -> int | None:
        """The partition a re-injected record came from, so its order keeps its partition whatever
        partitioner its producer used (librdkafka hashes keys with CRC32, aiokafka and Java with
        murmur2). None (the producer's partitioner decides) when it goes to another topic."""
        headers = dict(record.headers or ())
        if self.action == "replay":
            return record.partition if self.target_of(record) == record.topic else None
        source, partition = headers.get("dlq-source-topic"), headers.get("dlq-source-partition")
        if partition is None or not partition.isdigit() or source is None:
            return None
        return int(partition) if self.target_of(record) == source.decode(errors="replace") else None

    def options(self) -> dict[str, Any]:
        return {
            "toTopic": self.to_topic,
            "rate": self.rate,
            "force": self.force,
            "maxReplays": self.max_replays,
        }


def verdict(job: Job, record: Record) -> Verdict:
    headers = list(record.headers or ())
    if not matches(job.selection, record.key, record.value, record.timestamp, headers):
        return "filtered"
    if replay_count(headers) >= job.max_replays:
        return "refused"
    names = {name for name, _ in headers}
    if job.action == "redrive" and ((DLQ_REASON, b"pan-detected") in headers or MASKED_HEADER in names):
        # stored with card data masked: sent again, "************1111" would pass for a token, and
        # a masked key or header is not the record's; what was not masked is at its source position
        return "masked"
    if job.action == "redrive" and OMITTED_HEADER in names:
        return "omitted"  # too large for the DLQ: its value is at its source position, not here
    return "send" if job.target_of(record) else "no-target"


@dataclass
class PartitionPlan:
    partition: int
    start: int
    end: int
    selected: int = 0
    finished: int = 0
    refused: int = 0
    masked: int = 0
    omitted: int = 0
    no_target: int = 0
    first_offset: int | None = None
    last_offset: int | None = None
    first_ms: int | None = None
    last_ms: int | None = None

    @property
    def to_send(self) -> int:
        return self.selected - self.refused - self.masked - self.omitted - self.no_target

    def add(self, record: Record, kind: Verdict, finished: bool) -> None:
        self.selected += 1
        self.refused += kind == "refused"
        self.masked += kind == "masked"
        self.omitted += kind == "omitted"
        self.no_target += kind == "no-target"
        self.finished += finished
        if self.first_offset is None:
            self.first_offset, self.first_ms = record.offset, record.timestamp
        self.last_offset = record.offset
        self.first_ms = min(self.first_ms or record.timestamp, record.timestamp)
        self.last_ms = max(self.last_ms or record.timestamp, record.timestamp)

    def as_dict(self) -> dict[str, Any]:
        iso = {k: _iso(getattr(self, f"{k}_ms")) for k in ("first", "last")}
        return {
            "partition": self.partition,
            "range": [self.start, self.end],
            "records": self.selected,
            "toSend": self.to_send,
            "finished": self.finished,
            "refused": self.refused,
            "masked": self.masked,
            "omitted": self.omitted,
            "noTarget": self.no_target,
            "firstOffset": self.first_offset,
            "lastOffset": self.last_offset,
            "firstTime": iso["first"],
            "lastTime": iso["last"],
        }


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


@dataclass
class Plan:
    job: Job
    ranges: Ranges
    partitions: dict[int, PartitionPlan]
    targets: set[str] = field(default_factory=set)

    def total(self, name: str) -> int:
        return sum(int(getattr(p, name)) for p in self.partitions.values())

    @property
    def to_send(self) -> int:
        return self.total("to_send")

    def as_dict(self) -> dict[str, Any]:
        names = ("selected", "to_send", "finished", "refused", "masked", "omitted", "no_target")
        totals = {k: self.total(k) for k in names}
        return {
            "action": self.job.action,
            "replayId": self.job.replay_id,
            "selection": self.job.selection.describe(),
            "options": self.job.options(),
            "targets": sorted(self.targets),
            "partitions": [p.as_dict() for p in self.partitions.values()],
            "totals": {
                "records": totals["selected"],
                "toSend": totals["to_send"],
                "finished": totals["finished"],
                "refused": totals["refused"],
                "masked": totals["masked"],
                "omitted": totals["omitted"],
                "noTarget": totals["no_target"],
            },
        }


class Finished:
    """Whether the pipeline already finished an event (so a replay of it would be skipped)."""

    def __init__(self, settings: Settings, producer: AIOKafkaProducer) -> None:
        self._settings = settings
        self._ledger = Ledger(settings.kafka, settings.topics.ledger, producer)
        self._flows = {settings.topics.approved: "transmit", settings.topics.declined: "evaluate"}

    async def load(self, reader: AIOKafkaConsumer) -> None:
        try:
            parts = await partitions_of(reader, self._settings.topics.ledger)
        except ReplayError:
            return  # no ledger yet: nothing finished
        await self._ledger.load([TopicPartition(self._settings.topics.ledger, p) for p in parts])

    def __call__(self, target: str | None, value: bytes | None) -> bool:
        flow = self._flows.get(target or "")
        if flow is None or not value:
            return False
        try:
            event_id = orjson.loads(value).get("eventId")
        except (orjson.JSONDecodeError, AttributeError):
            return False
        return isinstance(event_id, str) and self._ledger.has(flow, event_id)


async def build_plan(job: Job, reader: AIOKafkaConsumer, ranges: Ranges, finished: Finished) -> Plan:
    plan = Plan(job, ranges, {p: PartitionPlan(p, a, b) for p, (a, b) in sorted(ranges.items())})
    async for record in scan(reader, job.selection.topic, ranges):
        kind = verdict(job, record)
        if kind == "filtered":
            continue
        target = job.target_of(record)
        if target:
            plan.targets.add(target)
        plan.partitions[record.partition].add(record, kind, finished(target, record.value))
    return plan
