"""Unit tests of the retries of a failing batch upload (upload.py) and of an assigned partition's
preparation (assign.py): whatever the error, tried again until it succeeds; once the rename was
tried, only the rename is tried again (it may have happened), so a file is never written twice."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Collection
from typing import Any, cast

import asyncssh
import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from consumers.flows import Defaults
from consumers.retry import capped
from consumers.sftp.accounts import SftpAccounts
from consumers.sftp.errors import sftp_error
from consumers.sftp.files import BatchBuilder
from consumers.sftp.intake import batch_item
from consumers.sftp.registry import BatchRegistry
from core.merchants import Merchant
from core.settings import BatchSettings, KafkaSettings, RoutingSettings
from streams.local.traffic import make_event
from streams.runtime.batch.assign import Preparation
from streams.runtime.batch.upload import Uploader
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger
from streams.runtime.metrics import Metrics
from tests.unit.streams.runtime.test_batch_buffers import ACME_MID, MERCHANTS, TOPICS, TP


def denied() -> BaseException:
    """What the SFTP client raises when the server refuses a permission (raised from asyncssh's)."""
    cause = asyncssh.SFTPPermissionDenied("denied")
    error = sftp_error(cause, "rename")
    error.__cause__ = cause
    return error


class Sftp:
    """One merchant's SFTP client: ``refuse`` maps an operation to the errors its next calls raise."""

    def __init__(self, refuse: dict[str, list[BaseException]]) -> None:
        self.refuse = refuse
        self.calls: list[str] = []
        self.refused_thrice = asyncio.Event()

    async def _op(self, what: str) -> None:
        self.calls.append(what)
        if self.calls.count(what) == 3:
            self.refused_thrice.set()
        if self.refuse.get(what):
            raise self.refuse[what].pop(0)

    async def upload(self, *_: Any) -> None:
        await self._op("manifest")

    async def write_temp(self, *_: Any) -> None:
        await self._op("write")

    async def rename_temp(self, *_: Any) -> bool:
        await self._op("rename")
        return True

    def client(self, _merchant: Merchant) -> Sftp:
        return self


class Written:
    """Stands in for the ledger: the files whose events it recorded."""

    def __init__(self) -> None:
        self.files: list[str] = []

    async def record_all(self, _flow: str, _ids: Any, _p: int, entry: dict[str, Any], _pr: Any) -> None:
        self.files.append(entry["batchFile"])


def _uploader(sftp: Sftp, ledger: Written, metrics: Metrics) -> Uploader:
    deps = Deps(
        producer=cast(AIOKafkaProducer, None),
        metrics=metrics,
        kafka=KafkaSettings(),
        topics=TOPICS,
        routing=RoutingSettings(),
        defaults=Defaults(),
        merchants=MERCHANTS,
    )

    async def token(_m: Merchant) -> str:
        return "token"

    uploader = Uploader(
        deps,
        BatchSettings(retry_max_seconds=0.001),
        "inbound",
        token,
        cast(SftpAccounts, sftp),
        BatchRegistry(),
        cast(Ledger, ledger),
    )

    async def pending(*_: Any) -> None:
        return None

    uploader._pending = pending  # type: ignore[method-assign]
    return uploader


def _file() -> tuple[BatchBuilder, Merchant]:
    event = make_event("mit-rebill", "O-1", random.Random(1))
    assert isinstance(event, dict)
    item = batch_item("evaluate", orjson.dumps({**event, "mid": ACME_MID}), MERCHANTS, 14)
    assert item is not None
    builder = BatchBuilder("evaluate", TP.topic, TP.partition, 0, 0.0, merchant="acme", mid=ACME_MID)
    raw = builder.fits(item.body, 1 << 20)
    assert raw is not None
    builder.add(0, raw, item.body, item.event_id)
    return builder, item.merchant


@pytest.mark.parametrize(
    ("refused", "calls"),
    [
        # a refused rename: only the rename is tried again (the file is not written a second time)
        ("rename", ["manifest", "write", "rename", "rename", "rename"]),
        # a refused write: the file is written again, then renamed once
        ("write", ["manifest", "write", "manifest", "write", "manifest", "write", "rename"]),
    ],
)
async def test_a_refused_step_is_tried_again_until_it_passes(refused: str, calls: list[str]) -> None:
    sftp, ledger, metrics = Sftp({refused: [denied(), denied()]}), Written(), Metrics()
    uploader = _uploader(sftp, ledger, metrics)
    builder, merchant = _file()
    recorded: list[str] = []

    async def before_rename() -> None:
        recorded.append(builder.name)

    sealed = await uploader.upload(builder, merchant, before_rename)
    assert sorted(sftp.calls) == sorted(calls) and sftp.calls[-1] == "rename"
    assert ledger.files == [sealed.name] and uploader.files == 1 and uploader.failing == {}
    assert recorded == [builder.name]  # its range recorded once, when it was written whole
    count = metrics.batch_upload_failures.labels("acme", "SFTPPermissionDenied")._value.get()
    assert count == 2


async def test_a_failing_upload_is_shown_while_it_fails_and_ends_when_cancelled() -> None:
    sftp = Sftp({"rename": [denied() for _ in range(1000)]})
    uploader = _uploader(sftp, Written(), Metrics())
    builder, merchant = _file()
    task = asyncio.create_task(uploader.upload(builder, merchant))
    await sftp.refused_thrice.wait()
    assert builder.name in uploader.failing and "denied" in uploader.failing[builder.name]
    task.cancel()  # the partition revoked
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and uploader.failing == {} and uploader.files == 0


async def test_a_failed_preparation_is_tried_again_and_the_partitions_wait_meanwhile() -> None:
    ready: list[Collection[TopicPartition]] = []
    attempts: list[frozenset[TopicPartition]] = []
    preparing = Preparation(ready.append, capped(0.001))
    other = TopicPartition(TP.topic, 4)

    async def prepare(tps: Collection[TopicPartition]) -> None:
        attempts.append(frozenset(tps))
        if len(attempts) < 3:
            raise denied()

    preparing.begin([TP, other], prepare)  # what the rebalance listener does: it never raises
    assert set(preparing.waiting) == {TP, other} and ready == []
    [(task, _)] = preparing._tasks.values()
    await task
    assert attempts == [frozenset({TP, other})] * 3 and ready == [frozenset({TP, other})]
    assert preparing.waiting == {}


async def test_a_revocation_ends_a_preparation_and_prepares_the_partitions_kept() -> None:
    ready: list[Collection[TopicPartition]] = []
    started: list[frozenset[TopicPartition]] = []
    held, under_way = asyncio.Event(), asyncio.Event()
    preparing = Preparation(ready.append, capped(0.001))
    other = TopicPartition(TP.topic, 4)

    async def prepare(tps: Collection[TopicPartition]) -> None:
        started.append(frozenset(tps))
        if len(started) == 1:
            under_way.set()
            await held.wait()  # the first stays under way until revoked

    preparing.begin([TP, other], prepare)
    await under_way.wait()
    await preparing.revoke([TP])
    assert set(preparing.waiting) == {other}
    [(task, _)] = preparing._tasks.values()
    await task
    assert started == [frozenset({TP, other}), frozenset({other})] and ready == [frozenset({other})]
    assert preparing.waiting == {}
