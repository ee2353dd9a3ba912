"""What became of the records of an input topic: done, dead-lettered, or no outcome yet.

Every record of ``payments.approved`` and ``payments.declined`` ends one of two ways. Its effect is
recorded as finished on the ledger under ``flow:eventId`` (answered by Flex on the real-time path,
or in a batch file renamed into Flex's inbound folder; a repeated event id is finished by its
first record), or it is dead-lettered, its position named by its dead letter's ``dlq-source-*``
headers (DESIGN.md §2.5). Every record of ``orders.commands`` is answered on ``orders.status``
(``source: "command"``, the commandId as ``eventId``; a malformed command without one by its
``topic:partition:offset``), produced again to its order's partition (a ``flexbridge-forwarded-from``
header names it; the copy is answered), or dead-lettered.

A record with none of these has **no outcome**: a worker is still on it (retrying Flex, in a batch
file not uploaded yet, its partition not read yet), or it was lost. The replay plan counts them
(streams/ops/plan.py), so ``flexbridge replay --topic payments.declined --last 2h`` without
``--execute`` is the check. A command's answers and copies are looked for from the window's start
on (they come after it), on the whole topic for a window of offsets. An answer, ledger entry or
dead letter older than its topic's retention is gone, and its record counts as having no outcome.
The ledger, the DLQ and (for commands) ``orders.status`` must exist for the outcomes to be counted:
a topic setting named wrong would count every record as lost. With one missing, the plan counts no
outcomes and names the setting (:attr:`Outcomes.missing`), and ``--without-outcome`` stops; an
empty topic is fine.

The ledger, the DLQ and the answers are read whole (a ledger entry of an event in the window may be
older than the window: a repeated event id), but only what the window's records need is kept: the
ledger keys of their event ids, the dead letters and copies of their positions, the answers of
their commands. So a plan's memory follows its window, not the ledger's size (a first pass over the
window finds those).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from consumers.command_input import answer_event_id
from core.errors import InvalidEvent
from core.settings import Settings, TopicSettings
from schemas.codec import decode_object
from schemas.commands import FORWARDED
from schemas.dlq import dlq_source
from schemas.events import event_field
from schemas.replay import REPLAY_OF_HEADER
from streams.ops.scan import NoSuchTopic, Ranges, Record, ReplayError, partitions_of, resolve_ranges, scan
from streams.ops.selection import Selection
from streams.runtime.ledger import Ledger

__all__ = ["Outcomes", "input_topics", "missing_topics"]

T = TypeVar("T")


def input_topics(topics: TopicSettings) -> tuple[str, str, str]:
    """The topics whose every record has an outcome to look for."""
    return topics.approved, topics.declined, topics.commands


class Outcomes:
    """The ledger's finished events, and for the topic loaded the positions its dead letters name
    (and a command's answers and copies), read once."""

    def __init__(self, settings: Settings, producer: AIOKafkaProducer) -> None:
        self._topics = settings.topics
        self._ledger = Ledger(settings.kafka, settings.topics.ledger, producer)
        self._flows = {settings.topics.approved: "transmit", settings.topics.declined: "evaluate"}
        self._dead: set[tuple[int, int]] = set()
        self._answered: set[str] = set()  # eventIds of the commands' answers
        self._forwarded: set[tuple[int, int]] = set()  # commands produced again to their partition
        self._sent_again: set[str] = set()  # dead letters' replay-of: records sent again, dead-lettered again
        self._loaded = ""  # the topic whose window was read
        self.missing: list[str] = []  # outcome topics that do not exist (missing_topics): none counted
        # by (partition, offset) in the window: each record's eventId, and a command's answer's
        self._event_ids: dict[tuple[int, int], str | None] = {}
        self._answer_ids: dict[tuple[int, int], str] = {}

    def tracks(self, topic: str) -> bool:
        """Whether every record of ``topic`` has an outcome to look for (an input topic)."""
        return topic in input_topics(self._topics)

    async def load(self, reader: AIOKafkaConsumer, selection: Selection, ranges: Ranges) -> None:
        """Read what the records of ``ranges`` of the selection's topic need: the ledger's entries of
        their events, and for a tracked topic their dead letters (and a command's answers and copies)."""
        ledger, topic = self._topics.ledger, selection.topic
        self.missing = await missing_topics(reader, self._topics, topic) if self.tracks(topic) else []
        await self._window(reader, topic, ranges)
        keys = {Ledger.key(flow, i) for i in self._event_ids.values() if i for flow in self._flows.values()}
        try:
            parts = await partitions_of(reader, ledger)
        except ReplayError:
            parts = []  # no ledger yet: nothing finished
        await self._ledger.load([TopicPartition(ledger, p) for p in parts], only=keys)
        if topic == self._topics.dlq:
            self._sent_again = set(await _found(reader, topic, selection.from_ms, _copy_of, _any))
        if not self.tracks(topic):
            return
        inside = _inside(ranges)
        self._dead = set(await _found(reader, self._topics.dlq, None, _dead_letter_of(topic), inside))
        if topic == self._topics.commands:
            answers = set(self._answer_ids.values())
            self._answered = set(
                await _found(
                    reader, self._topics.status, selection.from_ms, _command_answer, answers.__contains__
                )
            )
            self._forwarded = set(await _found(reader, topic, selection.from_ms, _forwarded, inside))

    async def _window(self, reader: AIOKafkaConsumer, topic: str, ranges: Ranges) -> None:
        """Each record's eventId (its ledger keys, under either flow: a record may be sent to another
        topic than its own) and a command's answer's, read once for the plan and its execution."""
        self._loaded, self._event_ids, self._answer_ids = topic, {}, {}
        async for record in scan(reader, topic, ranges):
            at = (record.partition, record.offset)
            self._event_ids[at] = _event_id(record.value)
            if topic == self._topics.commands:
                self._answer_ids[at] = answer_event_id(record.value, _where(record))

    def finished(self, topic: str | None, record: Record) -> bool:
        """Whether the flow of ``topic`` has finished the event of ``record`` (so the pipeline skips it)."""
        flow = self._flows.get(topic or "")
        if flow is None:
            return False
        event_id = self._event_id_of(record)
        return event_id is not None and self._ledger.has(flow, event_id)

    def done(self, record: Record) -> bool:
        """Whether the record of the loaded topic is finished, or (a command) answered or forwarded."""
        if record.topic != self._topics.commands:
            return self.finished(record.topic, record)
        if (record.partition, record.offset) in self._forwarded:
            return True
        return self._answer_id_of(record) in self._answered

    def _event_id_of(self, record: Record) -> str | None:
        """Its eventId, as the window's first pass read it (read again for a record outside it)."""
        at = (record.partition, record.offset)
        if record.topic == self._loaded and at in self._event_ids:
            return self._event_ids[at]
        return _event_id(record.value)

    def _answer_id_of(self, record: Record) -> str:
        """A command's answer's eventId, as the window's first pass read it (or read again)."""
        at = (record.partition, record.offset)
        if record.topic == self._loaded and at in self._answer_ids:
            return self._answer_ids[at]
        return answer_event_id(record.value, _where(record))

    def dead_lettered_again(self, record: Record) -> bool:
        """Whether the dead letter ``record`` (of the loaded DLQ) stands for a record sent again since
        (a redrive of it, or a replay of its source position) and dead-lettered again: that later
        dead letter names it in ``replay-of``, and a redrive sends only the later one."""
        source = dlq_source(record.headers)
        named = {f"{record.topic}/{record.partition}/{record.offset}"}
        if source is not None:
            named.add("/".join(map(str, source)))
        return not named.isdisjoint(self._sent_again)

    def dead_lettered(self, record: Record) -> bool:
        """Whether the record of the loaded topic has a dead letter."""
        return (record.partition, record.offset) in self._dead

    def has_outcome(self, record: Record) -> bool:
        return self.done(record) or self.dead_lettered(record)


async def missing_topics(reader: AIOKafkaConsumer, topics: TopicSettings, topic: str) -> list[str]:
    """Of the topics where the outcomes of ``topic``'s records are (the ledger, the DLQ, a command's
    answers), those that do not exist, each as its setting says it: a topic named wrong would count
    every record as having no outcome (an empty one is fine: nothing there yet)."""
    needed = [("LEDGER", topics.ledger), ("DLQ", topics.dlq)]
    if topic == topics.commands:
        needed.append(("STATUS", topics.status))
    missing = []
    for field, name in needed:
        try:
            await partitions_of(reader, name)
        except NoSuchTopic:
            missing.append(f"FLEXBRIDGE_TOPICS__{field}: topic {name} does not exist")
    return missing


def _event_id(value: bytes | None) -> str | None:
    """The eventId of an event's bytes as PaymentEvent reads it; None when there is none to read."""
    if not value:
        return None
    try:
        data = orjson.loads(value)
        event_id = event_field(data, "event_id") if isinstance(data, dict) else None
    except (orjson.JSONDecodeError, ValidationError):
        return None
    return event_id if isinstance(event_id, str) else None


def _where(record: Record) -> str:
    """``topic:partition:offset``, what names a malformed command without a commandId."""
    return f"{record.topic}:{record.partition}:{record.offset}"


def _inside(ranges: Ranges) -> Callable[[tuple[int, int]], bool]:
    """Whether a (partition, offset) lies in ``ranges``."""
    return lambda at: at[0] in ranges and ranges[at[0]][0] <= at[1] < ranges[at[0]][1]


async def _found(
    reader: AIOKafkaConsumer,
    topic: str,
    from_ms: int | None,
    read: Callable[[Record], T | None],
    wanted: Callable[[T], bool],
) -> list[T]:
    """What ``read`` finds in each record of ``topic`` (from ``from_ms`` on) that is ``wanted``."""
    try:
        ranges = await resolve_ranges(reader, Selection(topic=topic, from_ms=from_ms))
    except ReplayError:
        return []  # no such topic yet: nothing there
    return [
        item
        async for record in scan(reader, topic, ranges)
        if (item := read(record)) is not None and wanted(item)
    ]


def _dead_letter_of(topic: str) -> Callable[[Record], tuple[int, int] | None]:
    def position(record: Record) -> tuple[int, int] | None:
        source = dlq_source(record.headers)
        return (source[1], source[2]) if source is not None and source[0] == topic else None

    return position


def _copy_of(record: Record) -> str | None:
    """The ``replay-of`` of a dead letter: the position of the record it is a copy of, if any."""
    origin = dict(record.headers or ()).get(REPLAY_OF_HEADER)
    return origin.decode(errors="replace") if origin else None


def _any(_: object) -> bool:
    return True


def _command_answer(record: Record) -> str | None:
    try:
        status = decode_object(record.value)
    except InvalidEvent:
        return None
    event_id = status.get("eventId")
    return event_id if status.get("source") == "command" and isinstance(event_id, str) else None


def _forwarded(record: Record) -> tuple[int, int] | None:
    partition, _, offset = dict(record.headers or ()).get(FORWARDED, b"").partition(b"/")
    return (int(partition), int(offset)) if partition.isdigit() and offset.isdigit() else None
