"""The batch result poller: Flex's response files in one merchant's outbound folder become OrderStatuses.

At each round (streams/runtime/batch/polls.py schedules every merchant's) it lists the outbound
folder and takes each file that matches ``…__RESPONSE_PATTERN``, is at least ``…__MIN_AGE_SECONDS``
old and answers a batch of a partition this worker holds. It claims a file by renaming it into
``processing/`` (if another worker renamed it first, the rename fails and the file is not ours),
publishes one OrderStatus per evaluate row (``SUBMITTED`` with ``orderSessionKey``, or
``REJECTED`` with the error) and moves the file to ``done/``; a file it cannot read, or too large
to be a response, goes to ``error/`` with the reason logged; a file of an unsafe name is left
(streams/runtime/batch/responses.py). Then it reconciles: an uploaded record of this merchant without
a result gets ``FAILED`` with reason ``no-batch-result`` once a poll that succeeded after its
deadline (``…__RESULT_TIMEOUT_SECONDS`` + ``…__MIN_AGE_SECONDS`` after the upload) found none: while
polls fail (an SFTP outage) nothing is failed, the failed polls are counted and logged instead.

A claim left in ``processing/`` for ``…__CLAIM_TIMEOUT_SECONDS`` (its worker died, or publishing
failed) is moved back to the outbound folder and handled again. Publishing is once per record: the
registry (durable through streams/runtime/batch/store.py) settles a file record by record, so a
reclaimed file whose statuses went out before the crash publishes nothing again, and a response
file missing rows (a warning) leaves the rest waiting for a later file of the same name, whose
new rows alone are published. A file moved to ``done/`` or ``error/`` where one of its name is
already gets a unique name (``NAME.1``, ``NAME.2`` …): the earlier file stays as evidence.
"""

from __future__ import annotations

import fnmatch
import logging
import posixpath
import time
from collections.abc import Callable

from aiokafka.errors import KafkaError

from consumers.sftp.client import RemoteFile, SftpClient
from consumers.sftp.registry import ANY, AnyMerchant, BatchRegistry, Settled
from core.errors import FlexbridgeError
from core.merchants import SINGLE_MERCHANT_NAME, Merchant
from core.settings import BatchSettings
from schemas.batch import FileName, MalformedResponse, ResultRow, data_name, parse_file_name, parse_response
from schemas.status import OrderStatus, status_of
from streams.kafka.errors import KafkaFailure, kafka_op
from streams.runtime.batch.responses import UnsafeNames, read_response, unsafe_name
from streams.runtime.batch.results import (
    NO_RESULT,
    log_answered,
    log_unknown_row,
    matches,
    result_label,
    result_status,
)
from streams.runtime.batch.upload import record_detail
from streams.runtime.deps import Deps
from streams.runtime.status import StatusPublisher

__all__ = ["NO_RESULT", "ResultPoller", "result_label", "result_status"]

log = logging.getLogger(__name__)


class ResultPoller:
    """One outbound folder (one merchant's SFTP account); ``merchant``: the name its file names
    carry (None: single-merchant names), whose overdue records :meth:`reconcile` reports; ``served``:
    that merchant (its ``mid`` is named in every status's ``detail.mid``, its name in the metrics)."""

    def __init__(
        self,
        deps: Deps,
        settings: BatchSettings,
        outbound_dir: str,
        sftp: SftpClient,
        registry: BatchRegistry,
        owns: Callable[[FileName], bool] = lambda _: True,
        wall_clock: Callable[[], float] = time.time,
        merchant: str | AnyMerchant | None = ANY,
        served: Merchant | None = None,
    ) -> None:
        self._batch = settings
        self._outbound = outbound_dir
        self._sftp = sftp
        self._statuses = StatusPublisher(deps.producer, deps.topics.status)
        self._registry = registry
        self._metrics = deps.metrics
        self._owns = owns
        self._wall_clock = wall_clock
        self._merchant = merchant
        self._mid = served.mid if served is not None else None
        self._label = served.name if served is not None else SINGLE_MERCHANT_NAME
        self._dirs_ready = False
        self._unsafe = UnsafeNames(settings.response_pattern, outbound_dir, self._count_bad)
        self.handled = 0
        self.failed_files = 0
        self.missing = 0
        self.reclaimed = 0
        self.polls = 0
        self.poll_failures = 0
        self._polled_at: float | None = None  # start of the last successful look at the outbound folder

    def _dir(self, name: str) -> str:
        return posixpath.join(self._outbound, name)

    async def round(self) -> int:
        """Poll, then reconcile; a failed poll (SFTP or Kafka) is logged and the next round tries
        again, at error level when it cannot succeed by itself (a refused login, a permission).
        Returns how many response files were handled."""
        handled = 0
        try:
            handled = await kafka_op(self.poll_once)()
        except FlexbridgeError as exc:
            self._dirs_ready = False
            self._metrics.batch_poll_failed(self._label)
            self.poll_failures += 1
            level = logging.WARNING if exc.retriable else logging.ERROR
            since = "" if self._polled_at is None else f" since {self._wall_clock() - self._polled_at:.0f} s"
            log.log(
                level,
                "batch result poll of %s failed (%s); no good poll%s, so no result is reported missing "
                "until one succeeds; the next round retries",
                self._outbound,
                exc,
                since,
            )
        try:
            await kafka_op(self.reconcile)()
        except KafkaFailure as exc:
            log.warning("publishing missing batch results failed (%s); next poll retries", exc)
        return handled

    async def poll_once(self) -> int:
        """Handle every ready response file once; returns how many were handled."""
        b = self._batch
        if not self._dirs_ready:
            for sub in (b.claim_dir, b.done_dir, b.error_dir):
                await self._sftp.makedirs(self._dir(sub))
            self._dirs_ready = True
        started = self._wall_clock()
        await self._reclaim()
        handled = 0
        for entry in self._unsafe.screen(await self._sftp.listdir(self._outbound)):
            if self._ready(entry) and await self._claim(entry.name):
                await self._handle(entry.name, entry.size)
                handled += 1
        self.handled += handled
        self.polls += 1
        self._polled_at = started
        return handled

    def _ready(self, entry: RemoteFile) -> bool:
        b = self._batch
        if not fnmatch.fnmatchcase(entry.name, b.response_pattern):
            return False
        if self._wall_clock() - entry.mtime < b.min_age_seconds:
            return False
        name = parse_file_name(entry.name)
        return name is None or self._owns(name)

    async def _claim(self, name: str) -> bool:
        claimed = posixpath.join(self._dir(self._batch.claim_dir), name)
        if not await self._sftp.rename(self._dir(name), claimed):
            return False
        # The claim's age is its mtime: set it to now (a rename keeps the response file's own).
        await self._sftp.touch(claimed, self._wall_clock())
        return True

    async def _reclaim(self) -> int:
        """Move claims older than the claim timeout (of partitions this worker holds) back out."""
        b = self._batch
        claims = self._dir(b.claim_dir)
        limit = self._wall_clock() - b.claim_timeout_seconds
        moved = 0
        for entry in await self._sftp.listdir(claims):
            name = parse_file_name(entry.name)
            if unsafe_name(entry.name) or entry.mtime > limit or (name is not None and not self._owns(name)):
                continue  # an unsafe name is none of ours: no claim has one
            if await self._sftp.rename(posixpath.join(claims, entry.name), self._dir(entry.name)):
                log.warning(
                    "batch response %s reclaimed from %s/ after %.0f s",
                    entry.name,
                    b.claim_dir,
                    self._wall_clock() - entry.mtime,
                )
                moved += 1
        self.reclaimed += moved
        return moved

    async def _handle(self, name: str, size: int) -> None:
        b = self._batch
        claimed = posixpath.join(self._dir(b.claim_dir), name)
        try:
            rows = parse_response(await read_response(self._sftp, claimed, size))
            if parse_file_name(name) is None:
                raise MalformedResponse("the name does not say which batch file it answers")
        except MalformedResponse as exc:
            log.error("batch response %s moved to %s/: %s", name, b.error_dir, exc)
            self._count_bad()
            await self._file_away(claimed, b.error_dir, name)
            return
        await self._publish(name, rows)
        await self._file_away(claimed, b.done_dir, name)

    def _count_bad(self) -> None:
        """A response file refused: moved to error/, or left in place (an unsafe name)."""
        self._metrics.batch_bad_response(self._label)
        self.failed_files += 1

    async def _file_away(self, claimed: str, folder: str, name: str) -> None:
        """Move a handled claim into ``folder``, under a name no file there has yet."""
        target, n = posixpath.join(self._dir(folder), name), 0
        while await self._sftp.exists(target):
            n += 1
            target = posixpath.join(self._dir(folder), f"{name}.{n}")
        await self._sftp.rename(claimed, target)

    async def _publish(self, name: str, rows: list[ResultRow]) -> None:
        """One status per row whose record awaits a result (or was reported FAILED, a late row);
        rows already published (the same file again) are skipped."""
        file = data_name(name)
        parsed = parse_file_name(name)
        transmit = parsed is not None and parsed.kind == "transmit"
        statuses: list[OrderStatus] = []
        settled: set[int] = set()
        for row in rows:
            kind, sent = self._registry.classify(file, row.sequence_number)
            if kind is Settled.REPEAT or row.sequence_number in settled:
                continue
            if kind is Settled.UNKNOWN or (sent is not None and not matches(row, sent)):
                # no status: the row's orderId is the response's word alone, or not its record's
                self._metrics.batch_unknown_row(self._label)
                log_unknown_row(name, row, self._batch.done_dir, sent)
                continue
            settled.add(row.sequence_number)
            self._metrics.batch_result(result_label(row.status), self._label)
            if transmit:
                if row.status.upper() == "REJECTED":
                    log.warning(
                        "transmit batch %s: record %d rejected: %s", file, row.sequence_number, row.error_code
                    )
                continue
            if kind is Settled.LATE:
                log.warning(
                    "batch response %s: record %d answered after FAILED (%s)",
                    name,
                    row.sequence_number,
                    NO_RESULT,
                )
            statuses.append(result_status(file, row, sent, self._mid))
        await self._send(statuses)
        for sequence_number in settled:
            self._registry.settle(file, sequence_number)
        self._registry.mark_answered(file)
        await self._registry.persist(file)
        log_answered(name, len(rows), len(settled), self._registry.left(file))

    async def _send(self, statuses: list[OrderStatus]) -> None:
        await self._statuses.publish_all(statuses)  # one produce batch per partition

    async def reconcile(self) -> int:
        """FAILED (``no-batch-result``) for every record whose result is overdue; returns how many."""
        b = self._batch
        await self._registry.prune(b.result_timeout_seconds + 2 * b.claim_timeout_seconds)
        if self._polled_at is None:
            return 0  # no poll succeeded yet: a response may be waiting for any record
        # Overdue by the start of the last successful poll, less the age a response file needs
        # before it is read: a response written by the deadline was read by that poll.
        wait = b.result_timeout_seconds + b.min_age_seconds
        overdue = self._registry.overdue(wait, self._polled_at, merchant=self._merchant)
        if not overdue:
            return 0
        statuses = [
            status_of(
                r.order_id,
                "FAILED",
                "batch",
                r.event_id,
                reason=NO_RESULT,
                detail=record_detail(file, r, self._mid),
            )
            for file, r in overdue
        ]
        try:
            await self._send(statuses)
        except KafkaError:
            self._registry.put_back(overdue)
            raise
        for file in {file for file, _ in overdue}:
            await self._registry.persist(file)
        self._metrics.batch_missing(len(statuses), self._label)
        self.missing += len(statuses)
        log.error(
            "%d uploaded batch records have no result after %.0f s: FAILED (%s)",
            len(statuses),
            self._batch.result_timeout_seconds,
            NO_RESULT,
        )
        return len(statuses)
