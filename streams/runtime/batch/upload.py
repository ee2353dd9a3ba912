"""Uploading one closed batch file: token, manifest, data file, PENDING statuses, rename, registry.

A file is one merchant's: it goes up with that merchant's token, through that merchant's SFTP
account (consumers/sftp/accounts.py).

The order: at once, the manifest goes up (written and renamed), the data file is written under
its temporary name and its records' ``PENDING`` statuses are published (in bulk, one produce
batch per partition); then the caller's ``before_rename`` runs (the consumer records the file's
range durably, uploaded.py), the file's registry entry is added and made durable (a result may
come as soon as the file is visible), and the file is renamed into the inbound folder. PENDING
goes out before the rename so that it always precedes the file's results on ``orders.status``; a
crash between the two means a re-upload under the same name and a repeated PENDING, which is
harmless: Flex never saw the file (the next owner removes its temporary file and drops its
registry entry, reclaim.py). A crash after the rename leaves the recorded range and the registry
entry: the next owner does not send the file again, and matches its results or reports them
missing. After the rename, the file's events go in the ledger (streams/runtime/ledger.py), so a
replay of them is not sent in another file (the batch consumer skips what the ledger holds unless
the replay is forced).
Each step retries while its failure is retriable (SFTP drops reconnect with backoff; an
unavailable token endpoint or Kafka is waited out), so the caller commits the file's offsets only
after all of it. Any other failure (refused credentials, a refused SFTP permission, a bug) is
logged at error level, counted (``flexbridge_batch_upload_failures_total``) and tried again with
capped backoff (``FLEXBRIDGE_BATCH__RETRY_MAX_SECONDS``), holding no upload slot meanwhile, until
it succeeds or the upload is cancelled (its partition revoked): an upload never dies holding its
partition's commit. Up to the rename, the whole file is written again (same name, same records; a
repeated PENDING is harmless); once the rename was tried, only the rename is, since it may have
happened: it then finds the temporary file gone and the file is not written again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import orjson

from consumers.order_keys import order_key
from consumers.retry import OUTAGE, capped, every_error, retry
from consumers.sftp.accounts import SftpAccounts
from consumers.sftp.files import BatchBuilder, SealedBatch
from consumers.sftp.registry import BatchRegistry, SentRecord
from core.errors import FlexbridgeError
from core.merchants import Merchant
from core.settings import BatchSettings
from schemas.batch import temp_name
from schemas.status import OrderStatus, status_of
from streams.kafka.errors import kafka_op
from streams.runtime.awaiting import AwaitingResults
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger
from streams.runtime.status import StatusPublisher

__all__ = ["Uploader", "failure_reason", "pending_status", "pending_values", "record_detail"]

log = logging.getLogger(__name__)
Step = Callable[[], Awaitable[None]]
T = TypeVar("T")


def record_detail(name: str, record: SentRecord, mid: str | None) -> dict[str, object]:
    """The ``detail`` of a batch status about ``record`` of file ``name``: with the merchant's
    ``mid`` when it has one (DESIGN.md §2.9), so the order's commands run as that merchant."""
    detail = record.detail(name)
    return {**detail, "mid": mid} if mid else detail


def pending_status(name: str, record: SentRecord, mid: str | None = None) -> OrderStatus:
    detail = record_detail(name, record, mid)
    return status_of(record.order_id, "PENDING", "batch", record.event_id, detail=detail)


def pending_values(name: str, sent: list[SentRecord], mid: str | None = None) -> list[bytes]:
    """``encode_model(pending_status(name, r, mid))`` for every record of a file, all with one
    ``occurredAt``, byte for byte: one model is built and encoded with a placeholder for each
    per-record field; each record's JSON is that template with its fields encoded in (the hot path)."""
    if not sent:
        return []
    fields = pending_status(name, sent[0], mid).model_dump(mode="json", by_alias=True)
    holes = {"orderId": _HOLE, "eventId": _HOLE, "detail": _HOLE}
    template = orjson.dumps({**fields, **holes}).split(orjson.dumps(_HOLE))
    assert len(template) == len(holes) + 1  # noqa: S101  # the placeholder is nowhere else
    before_id, between, before_detail, end = template
    at_sequence = b'{"batchFile":' + orjson.dumps(name) + b',"sequenceNumber":'
    mid_part = b',"mid":' + orjson.dumps(mid) + b"}" if mid else b"}"
    dumps = orjson.dumps
    return [
        b"".join(
            (
                before_id,
                dumps(r.order_id),
                between,
                dumps(r.event_id),
                before_detail,
                at_sequence,
                str(r.sequence_number).encode(),
                b',"idempotencyKey":',
                dumps(r.idempotency_key),
                b"" if r.amount is None else b',"amount":' + str(r.amount).encode(),
                b"" if r.currency is None else b',"currency":' + dumps(r.currency),
                mid_part,
                end,
            )
        )
        for r in sent
    ]


_HOLE = "\x00flexbridge-pending-hole\x00"  # JSON-escaped, it cannot occur in an encoded status


class Uploader:
    def __init__(
        self,
        deps: Deps,
        settings: BatchSettings,
        inbound_dir: str,
        token: Callable[[Merchant], Awaitable[str]],
        sftp: SftpAccounts,
        registry: BatchRegistry,
        ledger: Ledger,
        clock: Callable[[], float] = time.monotonic,
        awaiting: AwaitingResults | None = None,
    ) -> None:
        self._inbound = inbound_dir
        self._producer, self._ledger = deps.producer, ledger
        self._token = token
        self._statuses = StatusPublisher(deps.producer, deps.topics.status)
        self._sftp = sftp
        self._metrics = deps.metrics
        self._registry = registry
        self._slots = asyncio.Semaphore(settings.upload_concurrency)
        self._policy = capped(settings.retry_max_seconds)  # between a failing upload's attempts
        self.failing: dict[str, str] = {}  # file name → its merchant and last error, while it fails
        self._clock = clock
        self._awaiting = awaiting  # the orders this worker's follower of orders.status holds
        self.last_upload: dict[str, float] = {}  # merchant name → when its last file went up
        self.files = 0
        self.records = 0
        self.phase_seconds = dict.fromkeys(("manifest", "write", "pending", "rename"), 0.0)
        self.on_uploaded: Callable[[SealedBatch], Awaitable[None]] | None = None

    async def upload(
        self, builder: BatchBuilder, merchant: Merchant, before_rename: Step | None = None
    ) -> SealedBatch:
        """Upload the file; a failed step (whatever the error) is tried again from that step on, with
        capped backoff, until it succeeds or the task is cancelled (its partition revoked). Once the
        rename was tried, only the rename is tried again: it finds the temporary file gone if it
        happened (consumers/sftp/client.py), and the file is never written again."""
        again = partial(self._again, builder.name, merchant.name)
        try:
            sealed = await again(lambda: self._in_slot(lambda: self._write(builder, merchant, before_rename)))
            await again(lambda: self._in_slot(lambda: self._rename(builder, merchant, sealed)))
            await again(lambda: self._finished(builder, sealed.name))
        finally:
            self.failing.pop(builder.name, None)
        self.last_upload[merchant.name] = self._clock()
        if self.on_uploaded is not None:
            await self.on_uploaded(sealed)
        self.files += 1
        self.records += len(builder)
        self._metrics.batch_uploaded(builder.kind, len(builder), merchant.name)
        log.info("uploaded %s (%d records, %d bytes)", sealed.name, len(builder), len(sealed.data))
        return sealed

    async def _again(self, name: str, merchant: str, op: Callable[[], Awaitable[T]]) -> T:
        """``op()`` until it returns: every failure is logged, counted and shown (``failing``)."""

        async def failed(exc: BaseException) -> None:
            self._metrics.batch_upload_failed(merchant, failure_reason(exc))
            self.failing[name] = f"{merchant}: {exc}"

        return await retry(
            op,
            self._policy,
            what=f"upload of {name}",
            log=log,
            level=logging.ERROR,
            retriable=every_error,
            on_retry=failed,
        )

    async def _in_slot(self, op: Callable[[], Awaitable[T]]) -> T:
        """``op()`` holding an upload slot (a file waiting to try again holds none)."""
        async with self._slots:
            return await op()

    async def _write(
        self, builder: BatchBuilder, merchant: Merchant, before_rename: Step | None
    ) -> SealedBatch:
        """Manifest, temporary data file and PENDING statuses at once; then ``before_rename``."""
        token = await retry(lambda: self._token(merchant), OUTAGE, what="Flex token", log=log)
        sealed = builder.seal(token)
        inbound, sftp = self._inbound, self._sftp.client(merchant)
        manifest = sealed.manifest.encode()
        steps = [
            self._timed(
                "manifest",
                sftp.upload(inbound, sealed.manifest_name, manifest, temp_name(sealed.manifest_name)),
            ),
            self._timed("write", sftp.write_temp(inbound, sealed.temp, sealed.data)),
        ]
        if builder.kind == "evaluate":
            publish = kafka_op(lambda: self._pending(sealed.name, builder.sent, merchant.mid))
            steps.append(self._timed("pending", retry(publish, OUTAGE, what="PENDING statuses", log=log)))
        await _all(steps)
        if before_rename is not None:
            await before_rename()
        return sealed

    async def _rename(self, builder: BatchBuilder, merchant: Merchant, sealed: SealedBatch) -> None:
        """The registry entry, then the rename into the inbound folder."""
        sftp = self._sftp.client(merchant)
        try:
            if builder.kind == "evaluate":
                await self._register(sealed.name, builder.sent)
            await self._timed("rename", sftp.rename_temp(self._inbound, sealed.name, sealed.temp))
        except BaseException:
            self._registry.forget(lambda name: name == sealed.name)
            raise

    async def _finished(self, builder: BatchBuilder, name: str) -> None:
        """The file's events in the ledger, once Flex can see the file (not before: a file never
        renamed is built again from the same records): a replay of them goes in no second file."""
        ledger, entry = self._ledger, {"flow": builder.kind, "batchFile": name}
        write = kafka_op(
            lambda: ledger.record_all(
                builder.kind, builder.event_ids, builder.partition, entry, self._producer
            )
        )
        await retry(write, OUTAGE, what="ledger", log=log)

    async def _register(self, name: str, sent: list[SentRecord]) -> None:
        """The file's registry entry, durable before the rename: a result may come as soon as the
        file is in the inbound folder, and a worker that dies right after the rename leaves the
        entry to the next owner, which reconciles the file (or drops the entry: never renamed)."""
        self._registry.add(name, sent)
        persist = kafka_op(lambda: self._registry.persist(name))
        await retry(persist, OUTAGE, what="batch registry", log=log)

    async def _timed(self, phase: str, step: Awaitable[object]) -> None:
        started = time.monotonic()
        try:
            await step
        finally:
            self.phase_seconds[phase] += time.monotonic() - started

    async def _pending(self, name: str, sent: list[SentRecord], mid: str | None) -> None:
        values = pending_values(name, sent, mid)
        items = [(r.order_id.encode(), value) for r, value in zip(sent, values, strict=True)]
        await self._statuses.publish_encoded(items)
        if self._awaiting is not None:  # before the rename: Flex may answer as soon as it sees the file
            keys = (order_key(r.order_id, mid, by_merchant=True) for r in sent)
            self._awaiting.uploading(keys, time.time())

    def stats(self) -> dict[str, Any]:
        phases = {f"upload_{k}_seconds": round(v, 3) for k, v in self.phase_seconds.items()}
        stats = {"files_uploaded": self.files, "records_uploaded": self.records, **phases}
        return stats | {"uploads_failing": dict(self.failing)}  # file → merchant and last error


def failure_reason(exc: BaseException) -> str:
    """A short, low-cardinality name of why an upload failed: the SFTP library's or Kafka's own
    error class when flexbridge wrapped one (``SFTPPermissionDenied``), else the error's class."""
    cause = exc.__cause__ if isinstance(exc, FlexbridgeError) and exc.__cause__ is not None else exc
    return type(cause).__name__


async def _all(steps: Sequence[Awaitable[None]]) -> None:
    """Run ``steps`` at once; when one fails, the others are cancelled before the error is raised."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
