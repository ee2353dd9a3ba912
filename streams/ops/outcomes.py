"""What became of the records of a flows' input topic: finished, dead-lettered, or no outcome yet.

Every record of ``payments.approved`` and ``payments.declined`` ends one of two ways. Its effect is
recorded as finished on the ledger under ``flow:eventId`` (answered by Flex on the real-time path,
or in a batch file renamed into Flex's inbound folder; a repeated event id is finished by its
first record), or it is dead-lettered, its position named by its dead letter's ``dlq-source-*``
headers (DESIGN.md §2.5). A record with neither has **no outcome**: a worker is still on it
(retrying Flex, in a batch file not uploaded yet, its partition not read yet), or it was lost.
The replay plan counts the three for such a topic (streams/ops/plan.py), so
``flexbridge replay --topic payments.declined --last 2h`` without ``--execute`` is the check.

Both topics must still hold what they say: an entry older than the ledger's retention, or a dead
letter older than the DLQ's, is gone, and its record is counted as having no outcome.
"""

from __future__ import annotations

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from core.settings import Settings
from schemas.events import event_field
from streams.ops.scan import ReplayError, partitions_of, resolve_ranges, scan
from streams.ops.selection import Selection
from streams.runtime.ledger import Ledger

__all__ = ["Outcomes"]


class Outcomes:
    """The ledger's finished events and the positions the DLQ holds dead letters of, read once."""

    def __init__(self, settings: Settings, producer: AIOKafkaProducer) -> None:
        self._settings = settings
        self._ledger = Ledger(settings.kafka, settings.topics.ledger, producer)
        self._flows = {settings.topics.approved: "transmit", settings.topics.declined: "evaluate"}
        self._dead: set[tuple[int, int]] = set()

    def tracks(self, topic: str) -> bool:
        """Whether every record of ``topic`` has an outcome to look for (a flows' input topic)."""
        return topic in self._flows

    async def load(self, reader: AIOKafkaConsumer, topic: str) -> None:
        """Read the ledger, and for a tracked ``topic`` the positions of its dead letters."""
        ledger = self._settings.topics.ledger
        try:
            parts = await partitions_of(reader, ledger)
        except ReplayError:
            parts = []  # no ledger yet: nothing finished
        await self._ledger.load([TopicPartition(ledger, p) for p in parts])
        if self.tracks(topic):
            self._dead = await _dead_letter_positions(reader, self._settings.topics.dlq, topic)

    def finished(self, topic: str | None, value: bytes | None) -> bool:
        """Whether the flow of ``topic`` has finished the event ``value`` (so the pipeline skips it)."""
        flow = self._flows.get(topic or "")
        if flow is None or not value:
            return False
        try:
            data = orjson.loads(value)
            event_id = event_field(data, "event_id") if isinstance(data, dict) else None
        except (orjson.JSONDecodeError, ValidationError):
            return False
        return isinstance(event_id, str) and self._ledger.has(flow, event_id)

    def dead_lettered(self, partition: int, offset: int) -> bool:
        """Whether the loaded topic's record at ``partition``/``offset`` has a dead letter."""
        return (partition, offset) in self._dead


async def _dead_letter_positions(reader: AIOKafkaConsumer, dlq: str, topic: str) -> set[tuple[int, int]]:
    """(partition, offset) of every record of ``topic`` that has a dead letter on ``dlq``."""
    try:
        ranges = await resolve_ranges(reader, Selection(topic=dlq))
    except ReplayError:
        return set()  # no DLQ yet: nothing dead-lettered
    source = topic.encode()
    found: set[tuple[int, int]] = set()
    async for record in scan(reader, dlq, ranges):
        headers = dict(record.headers or ())
        if headers.get("dlq-source-topic") != source:
            continue
        partition, offset = headers.get("dlq-source-partition", b""), headers.get("dlq-source-offset", b"")
        if partition.isdigit() and offset.isdigit():
            found.add((int(partition), int(offset)))
    return found
