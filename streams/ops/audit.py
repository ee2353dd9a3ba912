"""The ``ops.audit`` topic: one record per phase of every replay or redrive, keyed by its replay id.

``started`` carries everything a resume needs (the selection, its fixed offset ranges, the target
topics' end offsets at the start, the options); ``progress``, ``interrupted`` and ``finished``
carry the counts. Who ran it (user and host) and when are on every record.
"""

from __future__ import annotations

import getpass
import socket
from typing import Any, Literal

import orjson
from aiokafka import AIOKafkaProducer

from core.settings import Settings
from schemas.status import utcnow
from streams.kafka.topics import ensure_topics
from streams.ops.scan import ReplayError, open_reader, resolve_ranges, scan
from streams.ops.selection import Selection

__all__ = ["Audit", "Phase", "read_audit"]

Phase = Literal["started", "progress", "interrupted", "finished"]


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Audit:
    def __init__(self, settings: Settings, producer: AIOKafkaProducer, action: str, replay_id: str) -> None:
        self._topic = settings.topics.audit
        self._settings = settings
        self._producer = producer
        self.action = action
        self.replay_id = replay_id

    async def ensure(self) -> None:
        await ensure_topics(self._settings.kafka, [self._topic])

    async def write(self, phase: Phase, **fields: Any) -> None:
        record = {
            "action": self.action,
            "replayId": self.replay_id,
            "phase": phase,
            "who": _who(),
            "host": socket.gethostname(),
            "at": utcnow().isoformat(),
            **fields,
        }
        await self._producer.send_and_wait(self._topic, orjson.dumps(record), self.replay_id.encode())


async def read_audit(settings: Settings, replay_id: str | None = None) -> list[dict[str, Any]]:
    """Every audit record (of one replay id, if given), oldest first per partition."""
    reader = await open_reader(settings)
    try:
        try:
            ranges = await resolve_ranges(reader, Selection(topic=settings.topics.audit))
        except ReplayError:
            return []
        out: list[dict[str, Any]] = []
        async for record in scan(reader, settings.topics.audit, ranges):
            if replay_id is not None and record.key != replay_id.encode():
                continue
            if record.value:
                out.append(orjson.loads(record.value))
        return out
    finally:
        await reader.stop()
