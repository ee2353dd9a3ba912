"""A result poller over an in-memory SFTP folder and a hand-moved clock, its statuses recorded
instead of produced: the poller's logic without a broker or a server."""

from __future__ import annotations

import posixpath
from typing import cast

from aiokafka import AIOKafkaProducer

from consumers.flows import Defaults
from consumers.sftp.client import RemoteFile, SftpClient
from consumers.sftp.errors import SftpError
from consumers.sftp.registry import BatchRegistry, SentRecord
from core.settings import BatchSettings, KafkaSettings, RoutingSettings, TopicSettings
from schemas.batch import RESPONSE_COLUMNS, file_name, response_name
from schemas.status import OrderStatus
from streams.runtime.batch.poller import ResultPoller
from streams.runtime.deps import Deps
from streams.runtime.metrics import Metrics

OUT = "/out"
FILE = file_name("evaluate", "payments.declined", 0, 10)
RESPONSE = response_name(FILE)
SETTINGS = BatchSettings(min_age_seconds=2, result_timeout_seconds=60, claim_timeout_seconds=20)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class MemorySftp:
    """An SFTP folder tree in a dict (path → content, mtime); ``down`` makes every call fail."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.files: dict[str, tuple[bytes, float]] = {}
        self.down = False

    def _up(self) -> None:
        if self.down:
            raise SftpError("connection refused", retriable=True)

    def put(self, name: str, data: bytes) -> None:
        """Flex writes a file into the outbound folder (its mtime: now)."""
        self.files[posixpath.join(OUT, name)] = (data, self.clock())

    def under(self, directory: str) -> dict[str, bytes]:
        folder = posixpath.join(OUT, directory)
        found = self.files.items()
        return {posixpath.basename(p): d for p, (d, _) in found if posixpath.dirname(p) == folder}

    async def makedirs(self, directory: str) -> None:
        self._up()

    async def listdir(self, directory: str) -> list[RemoteFile]:
        self._up()
        found = [(p, d, m) for p, (d, m) in self.files.items() if posixpath.dirname(p) == directory]
        return [RemoteFile(posixpath.basename(p), len(d), m) for p, d, m in found]

    async def read(self, path: str, max_bytes: int) -> bytes:
        self._up()
        return self.files[path][0][: max_bytes + 1]

    async def rename(self, source: str, target: str) -> bool:
        self._up()
        if source not in self.files:
            return False
        self.files[target] = self.files.pop(source)
        return True

    async def exists(self, path: str) -> bool:
        self._up()
        return path in self.files

    async def touch(self, path: str, when: float) -> bool:
        self._up()
        data, _ = self.files[path]
        self.files[path] = (data, when)
        return True


class RecordingPoller(ResultPoller):
    """Its statuses go to ``sent`` instead of Kafka."""

    sent: list[OrderStatus]

    async def _send(self, statuses: list[OrderStatus]) -> None:
        self.sent.extend(statuses)


def records(count: int) -> list[SentRecord]:
    return [SentRecord(i, f"O-{i}", f"evt-{i}", f"k{i}") for i in range(1, count + 1)]


def response(rows: list[tuple[int, str]]) -> bytes:
    """A response CSV: one SUBMITTED row per ``(sequenceNumber, orderId)``."""
    lines = [",".join(RESPONSE_COLUMNS)]
    lines += [f"{seq},{order},k{seq},SUBMITTED,osk-{seq},," for seq, order in rows]
    return ("\n".join(lines) + "\n").encode()


def poller(clock: Clock, sftp: MemorySftp, registry: BatchRegistry, metrics: Metrics) -> RecordingPoller:
    deps = Deps(
        producer=cast(AIOKafkaProducer, None),
        metrics=metrics,
        kafka=KafkaSettings(),
        topics=TopicSettings(),
        routing=RoutingSettings(),
        defaults=Defaults(),
    )
    polling = RecordingPoller(deps, SETTINGS, OUT, cast(SftpClient, sftp), registry, wall_clock=clock)
    polling.sent = []
    return polling


def setup(count: int) -> tuple[Clock, MemorySftp, BatchRegistry, Metrics, RecordingPoller]:
    """A file of ``count`` records uploaded at the clock's start."""
    clock = Clock()
    sftp = MemorySftp(clock)
    registry = BatchRegistry(clock=clock)
    registry.add(FILE, records(count))
    metrics = Metrics()
    return clock, sftp, registry, metrics, poller(clock, sftp, registry, metrics)


def history(polling: RecordingPoller) -> list[tuple[str, str, str]]:
    return [(s.order_id, s.status, s.event_id) for s in polling.sent]
