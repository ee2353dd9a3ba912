"""The plan of a replay or redrive: what a first pass over the window finds, before anything is sent.

Per partition: the records selected, their first/last offsets and times, how many the pipeline has
already finished (and would skip unless forced), and how many the loop guard refuses. For an input
topic, also how many are dead-lettered and how many have no outcome at all, with the offsets
of the first of those (streams/ops/outcomes.py). The plan's ``to_send`` is exactly what
``--execute`` sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer

from schemas.dlq import DLQ_REASON, MASKED_HEADER, OMITTED_HEADER, dlq_source
from streams.ops.outcomes import Outcomes
from streams.ops.scan import Ranges, Record, ReplayError, scan
from streams.ops.selection import Selection, matches, replay_count

__all__ = ["Job", "PartitionPlan", "Plan", "Verdict", "build_plan", "verdict"]

NO_OUTCOME_LISTED = 20  # offsets of records with no outcome a partition's plan lists

Verdict = Literal["filtered", "refused", "masked", "omitted", "superseded", "no-target", "send"]


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
    without_outcome: bool = False  # replay only the records with no outcome (an input topic's)

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
        if self.action == "replay":
            return record.partition if self.target_of(record) == record.topic else None
        source = dlq_source(record.headers)
        return source[1] if source is not None and self.target_of(record) == source[0] else None

    def options(self) -> dict[str, Any]:
        return {
            "toTopic": self.to_topic,
            "rate": self.rate,
            "force": self.force,
            "maxReplays": self.max_replays,
            "withoutOutcome": self.without_outcome,
        }


def verdict(job: Job, record: Record, outcomes: Outcomes | None = None) -> Verdict:
    """What becomes of ``record``; ``outcomes`` (loaded) is needed for ``--without-outcome``."""
    headers = list(record.headers or ())
    if not matches(job.selection, record.key, record.value, record.timestamp, headers):
        return "filtered"
    if job.without_outcome:
        assert outcomes is not None  # the runner loads them  # noqa: S101
        if outcomes.has_outcome(record):
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
    if job.action == "redrive" and outcomes is not None and outcomes.dead_lettered_again(record):
        return "superseded"  # its record was sent again and dead-lettered again: that dead letter is sent
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
    superseded: int = 0
    no_target: int = 0
    first_offset: int | None = None
    last_offset: int | None = None
    first_ms: int | None = None
    last_ms: int | None = None
    # an input topic's (the plan's ``tracked``): records with a dead letter, records with no outcome
    dead_lettered: int = 0
    no_outcome: int = 0
    no_outcome_offsets: list[int] = field(default_factory=list)  # the first NO_OUTCOME_LISTED

    @property
    def to_send(self) -> int:
        return self.selected - self.refused - self.masked - self.omitted - self.superseded - self.no_target

    def add(self, record: Record, kind: Verdict, finished: bool) -> None:
        self.selected += 1
        self.refused += kind == "refused"
        self.masked += kind == "masked"
        self.omitted += kind == "omitted"
        self.superseded += kind == "superseded"
        self.no_target += kind == "no-target"
        self.finished += finished
        if self.first_offset is None:
            self.first_offset, self.first_ms = record.offset, record.timestamp
        self.last_offset = record.offset
        self.first_ms = min(self.first_ms or record.timestamp, record.timestamp)
        self.last_ms = max(self.last_ms or record.timestamp, record.timestamp)

    def add_outcome(self, record: Record, done: bool, dead_lettered: bool) -> None:
        """What became of ``record`` (an input topic's): done (finished, a command answered or
        forwarded), dead-lettered, or neither."""
        self.dead_lettered += dead_lettered
        if not (done or dead_lettered):
            self.no_outcome += 1
            if len(self.no_outcome_offsets) < NO_OUTCOME_LISTED:
                self.no_outcome_offsets.append(record.offset)

    def as_dict(self, tracked: bool = False) -> dict[str, Any]:
        """``tracked``: an input topic's, whose outcomes were counted (None otherwise)."""
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
            "superseded": self.superseded,
            "noTarget": self.no_target,
            "deadLettered": self.dead_lettered if tracked else None,
            "noOutcome": self.no_outcome if tracked else None,
            "noOutcomeOffsets": self.no_outcome_offsets if tracked else None,
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
    tracked: bool = False  # an input topic: each record's outcome counted
    uncounted: list[str] = field(default_factory=list)  # why an input topic's outcomes are not

    def total(self, name: str) -> int:
        return sum(int(getattr(p, name)) for p in self.partitions.values())

    @property
    def to_send(self) -> int:
        return self.total("to_send")

    def as_dict(self) -> dict[str, Any]:
        names = ("selected", "to_send", "finished", "refused", "masked", "omitted", "superseded", "no_target")
        totals = {k: self.total(k) for k in names}
        return {
            "action": self.job.action,
            "replayId": self.job.replay_id,
            "selection": self.job.selection.describe(),
            "options": self.job.options(),
            "targets": sorted(self.targets),
            "outcomesNotCounted": self.uncounted,
            "partitions": [p.as_dict(self.tracked) for p in self.partitions.values()],
            "totals": {
                "records": totals["selected"],
                "toSend": totals["to_send"],
                "finished": totals["finished"],
                "refused": totals["refused"],
                "masked": totals["masked"],
                "omitted": totals["omitted"],
                "superseded": totals["superseded"],
                "noTarget": totals["no_target"],
                "deadLettered": self.total("dead_lettered") if self.tracked else None,
                "noOutcome": self.total("no_outcome") if self.tracked else None,
            },
        }


async def build_plan(job: Job, reader: AIOKafkaConsumer, ranges: Ranges, outcomes: Outcomes) -> Plan:
    """One pass over the window; ``outcomes`` loaded for the selection's topic."""
    source = job.selection.topic
    if job.without_outcome and outcomes.missing:
        raise ReplayError(
            f"--without-outcome cannot tell which records have one: {'; '.join(outcomes.missing)}"
        )
    tracked = outcomes.tracks(source) and not outcomes.missing
    parts = {p: PartitionPlan(p, a, b) for p, (a, b) in sorted(ranges.items())}
    plan = Plan(job, ranges, parts, tracked=tracked, uncounted=outcomes.missing)
    async for record in scan(reader, source, ranges):
        kind = verdict(job, record, outcomes)
        if kind == "filtered":
            continue
        target = job.target_of(record)
        if target:
            plan.targets.add(target)
        part = plan.partitions[record.partition]
        finished = outcomes.finished(target, record)
        part.add(record, kind, finished)
        if tracked:  # finished in its own topic's flow is done: its event is not read again
            done = (finished and target == source) or outcomes.done(record)
            part.add_outcome(record, done, outcomes.dead_lettered(record))
    return plan
